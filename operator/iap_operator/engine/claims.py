"""Claims: a protected target (a Cloud Run service; in attach mode also the backend service) has at most one
IapProtectedService, across namespaces, operator instances and clusters.

The claim is a binding in the target's own IAM policy (the Cloud Run service's, the backend service's IAP
policy): visible to every operator that can act on the project, written with the etag (two claimers: one
wins, the other re-reads and sees the winner), outside every field of the Cloud Run service that
Terraform or `gcloud run deploy` manage, and granting nothing (its condition is never true). It names the
holder (`cluster/namespace/name`) and records the lineage its GCP resources are named after, which is what
a rebuilt cluster, a restored namespace or an explicit adoption needs to find them again.
See docs/ownership.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from iap_operator.api import IapProtectedServiceSpec, Mode
from iap_operator.engine import desired
from iap_operator.engine.conditions import Reason
from iap_operator.engine.errors import CloudError, Fault, Waiting
from iap_operator.engine.identity import (
    ADOPT_ANNOTATION,
    Identity,
    Lineage,
    Owner,
    Ownership,
    name_pattern,
)
from iap_operator.engine.marks import Mark, MarkKind, claim_condition, parse
from iap_operator.engine.outcome import Memory
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import (
    BackendService,
    Binding,
    IamTarget,
    IamTargetKind,
    Key,
    Kind,
    Observed,
    Policy,
)


@dataclass(frozen=True)
class Claim:
    binding: Binding
    mark: Mark

    @property
    def holder(self) -> str:
        return self.mark.text or f"owner {self.mark.owner}"

    @property
    def agent(self) -> str | None:
        return next((m.removeprefix("serviceAccount:") for m in self.binding.members), None)


def claims_in(policy: Policy) -> list[Claim]:
    found = []
    for binding in policy.bindings:
        mark = parse(binding.condition)
        if mark is not None and mark.kind in {MarkKind.CLAIM, MarkKind.RELEASED}:
            found.append(Claim(binding, mark))
    return found


@dataclass(frozen=True)
class Standing:
    """Where one owner stands on one target."""

    ours: Claim | None  # our claim, held or released
    holder: Claim | None  # someone else's claim, held
    released: tuple[Claim, ...]  # claims others gave up (Abandon)

    @property
    def held(self) -> bool:
        return self.ours is not None and self.ours.mark.kind is MarkKind.CLAIM


def standing(policy: Policy, owner_id: str) -> Standing:
    found = claims_in(policy)
    ours = next((c for c in found if c.mark.owner == owner_id), None)
    others = [c for c in found if c.mark.owner != owner_id]
    holder = next((c for c in others if c.mark.kind is MarkKind.CLAIM), None)
    return Standing(ours, holder, tuple(c for c in others if c.mark.kind is MarkKind.RELEASED))


def claim_binding(role: str, agent: str, ownership: Ownership, *, all_users: bool = False) -> Binding:
    """Our claim on a target: the IAP service agent under a condition that never holds, with our mark."""
    mark = Mark(
        MarkKind.CLAIM,
        ownership.owner.id,
        names=ownership.lineage.names,
        inherits=ownership.lineage.inherits,
        all_users=all_users,
        text=ownership.owner.ref,
    )
    return Binding(role, frozenset({f"serviceAccount:{agent}"}), claim_condition(mark))


def released_binding(claim: Claim) -> Binding:
    mark = Mark(
        MarkKind.RELEASED,
        claim.mark.owner,
        names=claim.mark.names,
        inherits=claim.mark.inherits,
        all_users=claim.mark.all_users,
        text=claim.mark.text,
    )
    return Binding(claim.binding.role, claim.binding.members, claim_condition(mark))


def conflict(target: str, holder: Claim, identity: Identity, poll_after: float) -> Waiting:
    hint = (
        "set deletionPolicy: Abandon on it and delete it, then this resource adopts what it built"
        if identity.adopt_from
        else "this resource takes over when that one is deleted"
    )
    return Waiting(
        Reason.MANAGEMENT_CONFLICT,
        f"{target} is already protected by IapProtectedService {holder.holder}; {hint}",
        poll_after,
    )


# --- the survey: what the claims say, read before anything is written -----------------------------------


@dataclass(frozen=True)
class Survey:
    ownership: Ownership
    run_target: IamTarget
    run_policy: Policy  # the Cloud Run service's policy as read (its etag starts the first edit)
    held: bool  # our claim was already held on every target: nothing to wait for before writing
    agent: str | None  # the IAP service agent our claim names (it exists: no need to generate it)
    holder: Claim | None  # someone else holds a target (only when surveyed with strict=False)
    backend_service: Observed[BackendService] | None = None  # attach mode: the backend service claimed
    bs_target: IamTarget | None = None
    bs_policy: Policy | None = None
    regions: tuple[str, ...] = ()  # cloudRun's regions, the first (run_target's) first


async def survey(
    cloud: Cloud,
    identity: Identity,
    owner: Owner,
    *,
    spec: IapProtectedServiceSpec,
    project: str,
    number: str,
    memory: Memory,
    poll_after: float,
    strict: bool = True,
) -> Survey:
    """Read every claim target; resolve our lineage. `strict`: raise Waiting (look again after
    `poll_after`) on a conflict or a missing target (reconcile); teardown surveys without."""
    run = spec.cloud_run
    run_target = IamTarget(IamTargetKind.CLOUD_RUN_SERVICE, project, run.service, run.primary_region)
    lb = spec.load_balancer
    ref = lb.backend_service if spec.mode is Mode.LOAD_BALANCER and lb is not None else None
    run_policy, bs = await asyncio.gather(
        _policy(cloud, run_target),
        cloud.backend_services.find(project, Key(Kind.BACKEND_SERVICE, ref.name, ref.region))
        if ref is not None
        else _nothing(),
    )
    run_standing = standing(run_policy, owner.id)
    what = f"Cloud Run service {run.service!r} ({run.primary_region})"
    holder = run_standing.holder
    bs_target = bs_policy = None
    bs_held = True
    if ref is not None:
        if bs is not None:
            bs_target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, number, bs.id, ref.region)
            bs_policy = await _policy(cloud, bs_target)
            bs_standing = standing(bs_policy, owner.id)
            bs_held = bs_standing.held
            if holder is None and bs_standing.holder is not None:
                holder, what = bs_standing.holder, f"backend service {ref.name!r}"
        elif strict:
            raise Waiting(
                Reason.NOT_FOUND, f"backend service {ref.name!r} named in the spec does not exist", poll_after
            )
    if holder is not None and strict:
        raise conflict(what, holder, identity, poll_after)
    lineage = await _lineage(
        cloud, identity, owner, spec=spec, project=project, memory=memory, run=run_standing,
        poll_after=poll_after, strict=strict,
    )  # fmt: skip
    ours = run_standing.ours
    return Survey(
        ownership=Ownership(owner, lineage),
        run_target=run_target,
        run_policy=run_policy,
        held=run_standing.held and bs_held,
        agent=ours.agent if ours is not None else None,
        holder=holder,
        backend_service=bs,
        bs_target=bs_target,
        bs_policy=bs_policy,
        regions=run.regions_in_order,
    )


async def _nothing() -> None:
    return None


async def _policy(cloud: Cloud, target: IamTarget) -> Policy:
    try:
        return await cloud.iam.get_policy(target)
    except CloudError as exc:
        if exc.fault is Fault.NOT_FOUND:
            return Policy(())
        raise


async def _lineage(
    cloud: Cloud,
    identity: Identity,
    owner: Owner,
    *,
    spec: IapProtectedServiceSpec,
    project: str,
    memory: Memory,
    run: Standing,
    poll_after: float,
    strict: bool,
) -> Lineage:
    """Our claim's lineage; else an explicit adoption; else an earlier version's (uid); else a fresh one.

    A fresh one only if no earlier version built a balancer for this namespace/name as another object
    (a restore gives a new uid): that one is reported, to adopt explicitly, never duplicated."""
    if run.ours is not None:
        mark = run.ours.mark
        return Lineage(mark.names or Lineage.fresh(owner).names, mark.inherits)
    if identity.adopt_from:
        return _adopted(identity, owner, run, poll_after)
    legacy = Lineage.legacy(identity.uid)
    if memory.legacy:
        return legacy
    ours, others = await asyncio.gather(  # both are about earlier versions: read them at once
        _built_by_legacy(cloud, spec, project, owner, legacy),
        _legacy_of_others(cloud, spec, project, identity) if strict else _nothing(),
    )
    if ours:
        return legacy
    if others:
        raise Waiting(Reason.MANAGEMENT_CONFLICT, others, poll_after)
    return Lineage.fresh(owner)


def _adopted(identity: Identity, owner: Owner, run: Standing, poll_after: float) -> Lineage:
    source = str(identity.adopt_from).strip()
    if source.startswith("uid:"):
        return Lineage.legacy(source.removeprefix("uid:"))
    ref = source if "/" in source else f"{source}/{owner.namespace}/{owner.name}"
    cluster, _, rest = ref.partition("/")
    namespace, _, name = rest.partition("/")
    previous = Owner(cluster, namespace, name)
    found = next((c for c in run.released if c.mark.owner == previous.id), None)
    if found is None:
        raise Waiting(
            Reason.NOT_FOUND,
            f"nothing to adopt: no IapProtectedService {previous.ref} released the Cloud Run service "
            f"(annotation {identity.adopt_from!r}); on the old side set deletionPolicy: Abandon and delete "
            "it, or remove the annotation to build anew",
            poll_after,
        )
    mark = found.mark
    return Lineage(mark.names or Lineage.fresh(previous).names, mark.inherits).adopted_by(mark.owner)


async def _built_by_legacy(
    cloud: Cloud, spec: IapProtectedServiceSpec, project: str, owner: Owner, legacy: Lineage
) -> bool:
    """Did an earlier version build this object's balancer (named and marked after its uid)?"""
    if spec.mode is not Mode.LOAD_BALANCER or spec.load_balancer is None or not spec.load_balancer.domains:
        return False
    ownership = Ownership(owner, legacy)
    key = desired.balancer(spec, project, ownership.resource_name, None).backend_service.key
    found = await cloud.backend_services.find(project, key)
    return found is not None and ownership.owns(found.marks)


async def _legacy_of_others(
    cloud: Cloud, spec: IapProtectedServiceSpec, project: str, identity: Identity
) -> str | None:
    """A balancer an earlier version built for `namespace/name` as another object (uid), if any."""
    if spec.mode is not Mode.LOAD_BALANCER or spec.load_balancer is None or not spec.load_balancer.domains:
        return None
    pattern = name_pattern(identity.namespace, identity.name, "bs")
    marker = f"for {identity.ref} (owner "
    for name in await cloud.inventory.names(project, Kind.BACKEND_SERVICE, None, pattern):
        found = await cloud.backend_services.find(project, Key(Kind.BACKEND_SERVICE, name))
        text = found.marks.description if found is not None else ""
        if marker in text:
            uid = text.split(marker, 1)[1].split(")", 1)[0]
            return (
                f"backend service {name!r} was built by an earlier operator version for {identity.ref} "
                f"as another object (uid {uid}); to adopt that balancer set annotation "
                f"{ADOPT_ANNOTATION}: 'uid:{uid}' on this resource, or delete it to build anew"
            )
    return None
