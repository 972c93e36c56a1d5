"""One reconcile pass: desired state -> observe -> diff -> act, reported as conditions.

Reads come first (preflight): nothing is written while the project, the Cloud Run service or the OAuth
Secret is missing or not allowed, or while another IapProtectedService holds the claim on the target
(`engine.claims`). Then the plan (`engine.plan`) runs: each node as soon as the nodes it depends on are
done (`engine.execute`); while our claim is not yet held, every write waits for the node that takes it
(`invoker`). Conditions come from what each node feeds (`engine.report`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from iap_operator.api import IapProtectedServiceSpec, Invoker, LoadBalancingScheme, Mode
from iap_operator.engine import claims, desired, execute, grants, iap_settings
from iap_operator.engine.conditions import PERMANENT, Condition, Reason, Type
from iap_operator.engine.context import Context, Progress
from iap_operator.engine.errors import CloudError, SpecError, Waiting
from iap_operator.engine.graph import DependencyFailed, Graph
from iap_operator.engine.identity import Identity, Owner
from iap_operator.engine.marks import user_condition
from iap_operator.engine.outcome import Event, Memory, Outcome, resource_record
from iap_operator.engine.plan import Action, Plan, teardown_levels
from iap_operator.engine.plan import build as build_plan
from iap_operator.engine.ports import Cloud, SecretsPort
from iap_operator.engine.records import grant_of
from iap_operator.engine.removal import delete_owned, discover
from iap_operator.engine.report import (
    PROTECTED_MESSAGE,
    certificate_condition,
    failed,
    ok_or_failed,
    reason_of,
    retryable,
    summary,
)
from iap_operator.engine.resources import IamTarget, IamTargetKind, Key, Observed, Policy
from iap_operator.engine.settings import Settings
from iap_operator.engine.steps import Steps

__all__ = ["Progress", "Reconciler"]
_OAUTH_CLIENT_ID = re.compile(r"[0-9]{1,30}(-[a-z0-9]{1,64})?\.apps\.googleusercontent\.com")


class Reconciler:
    def __init__(self, cloud: Cloud, secrets: SecretsPort, settings: Settings) -> None:
        self.cloud = cloud
        self.secrets = secrets
        self.settings = settings

    async def reconcile(
        self,
        identity: Identity,
        spec: IapProtectedServiceSpec,
        status: Mapping[str, Any] | None,
        progress: Progress | None = None,
    ) -> Outcome:
        """One pass. `progress` hears about Protected as soon as it holds, before the pass ends."""
        memory = Memory.from_status(status)
        try:
            ctx = await self.preflight(identity, spec, memory)
        except (SpecError, CloudError, Waiting) as exc:
            return self._blocked(exc)
        if not (memory.protected and memory.generation == identity.generation):
            ctx = dataclasses.replace(ctx, progress=progress)
        steps = Steps(self.cloud, self.settings, ctx.ownership, ctx.project, drift=ctx.drift)
        plan = build_plan(
            spec, project=ctx.project, names=ctx.ownership.resource_name, oauth=ctx.oauth,
            held=ctx.survey.held,
        )  # fmt: skip
        if spec.mode is Mode.DIRECT:
            return await _direct(ctx, steps, self.settings, plan)
        return await _load_balancer(ctx, steps, self.settings, plan)

    async def preflight(self, identity: Identity, spec: IapProtectedServiceSpec, memory: Memory) -> Context:
        project = spec.project_id or self.settings.default_project
        if not project:
            raise SpecError(
                Reason.INVALID_SPEC, "spec.projectId is not set and the operator has no default project"
            )
        if not self.settings.projects.allows(identity.namespace, project, self.settings.default_project):
            raise SpecError(
                Reason.PERMISSION_DENIED,
                f"namespace {identity.namespace!r} is not allowed to act on project {project!r} "
                "(see the operator's allowed-projects setting)",
            )
        if spec.load_balancer is not None and spec.load_balancer.shared_ref is not None:
            raise SpecError(  # docs/shared-balancer.md: the attach topology is not in this engine yet
                Reason.INVALID_SPEC,
                "loadBalancer.sharedRef (attaching to an IapLoadBalancer) is not supported by this "
                "operator version yet: use loadBalancer.domains or loadBalancer.backendService",
            )
        oauth = await self._oauth_client(identity, spec)
        run = spec.cloud_run
        regions = run.regions_in_order
        numbered = asyncio.ensure_future(self.cloud.projects.project_number(project))  # first, as before
        try:
            found = await asyncio.gather(
                *(self.cloud.cloud_run.find(project, region, run.service) for region in regions)
            )
        except BaseException:
            numbered.cancel()
            raise
        number = await numbered
        missing = [region for region, service in zip(regions, found, strict=True) if service is None]
        if missing:
            # Nothing is written while a region is missing: what serves the other regions stays as it is.
            where = f"region {missing[0]!r}" if len(missing) == 1 else f"regions {', '.join(missing)}"
            raise Waiting(
                Reason.NOT_FOUND,
                f"Cloud Run service {run.service!r} not found in project {project!r}, {where}"
                + (" (deploy it there, or remove the region from cloudRun.regions)" if run.regions else ""),
                self.settings.missing_retry,
            )
        services = {s.region: s for s in found if s is not None}
        service = services[regions[0]]
        drift = memory.generation == identity.generation and memory.ready
        owner = Owner.of(self.settings.cluster_name, identity)
        poll = self.settings.missing_retry
        survey = await claims.survey(
            self.cloud, identity, owner, spec=spec, project=project, number=number, memory=memory,
            poll_after=poll,
        )  # fmt: skip
        return Context(
            identity, spec, memory, project, number, service, oauth, drift, survey, poll,
            services=services,
        )  # fmt: skip

    async def _oauth_client(
        self, identity: Identity, spec: IapProtectedServiceSpec
    ) -> desired.OAuthClient | None:
        if spec.oauth_client is None:
            return None
        if spec.mode is Mode.DIRECT:
            raise SpecError(Reason.INVALID_SPEC, "oauthClient is only supported with mode: LoadBalancer")
        ref = spec.oauth_client.secret_ref
        data = await self.secrets.read(identity.namespace, ref.name)
        if data is None:
            raise Waiting(
                Reason.NOT_FOUND,
                f"Secret {identity.namespace}/{ref.name} (oauthClient.secretRef) not found",
                self.settings.missing_retry,
            )
        missing = [k for k in (ref.client_id_key, ref.client_secret_key) if not data.get(k)]
        if missing:
            raise Waiting(
                Reason.NOT_FOUND,
                f"Secret {identity.namespace}/{ref.name} has no value for key(s) {', '.join(missing)}",
                self.settings.missing_retry,
            )
        client_id = data[ref.client_id_key].strip()
        if not _OAUTH_CLIENT_ID.fullmatch(client_id):
            raise Waiting(
                Reason.INVALID_SPEC,
                f"Secret {identity.namespace}/{ref.name} key {ref.client_id_key} does not hold an OAuth "
                "client ID (NUMBER-ID.apps.googleusercontent.com)",
                self.settings.missing_retry,
            )
        return desired.OAuthClient(client_id=client_id, client_secret=data[ref.client_secret_key])

    def _blocked(self, exc: SpecError | CloudError | Waiting) -> Outcome:
        reason, message = reason_of(exc)
        outcome = Outcome(conditions=[])
        if isinstance(exc, CloudError) and retryable(exc):
            outcome.error = exc
        elif isinstance(exc, Waiting):
            outcome.poll_after = exc.poll_after
        else:
            outcome.stalled = reason in PERMANENT or isinstance(exc, SpecError)
        outcome.conditions = summary(outcome, {}, reason, message)
        outcome.events.append(Event(str(reason), message, warning=True))
        return outcome


async def _load_balancer(ctx: Context, steps: Steps, settings: Settings, plan: Plan) -> Outcome:
    spec, lb = ctx.spec, ctx.spec.load_balancer
    assert lb is not None, "the CRD requires loadBalancer in LoadBalancer mode"
    attached = lb.backend_service is not None
    graph = execute.graph(plan, ctx, steps)
    regions = spec.cloud_run.regions_in_order

    async def found(_: Mapping[str, Any]) -> set[Key]:
        """What GCP has in our lineage, when status cannot say (lost, or the last pass did not finish)."""
        if attached or not ctx.survey.held or ctx.memory.trusted(ctx.identity.generation):
            return set()
        return await discover(steps.cloud, ctx.ownership, ctx.project, _known_regions(ctx, regions))

    graph.add("discover", found)
    _announce_protected(graph, ctx, plan)
    results = await graph.run()
    ours = plan.owned()
    cert = plan.first(Action.CERTIFICATE)
    if cert is not None:  # read early, it may have turned ACTIVE while the chain was built
        results[cert.id] = await execute.refreshed_certificate(steps, ctx.project, results[cert.id])
        if not isinstance(results[cert.id], BaseException):  # the certificate in force is ours
            using = results[cert.id].spec.key
            ours = [using if k == cert.key else k for k in ours]
    lb_steps = plan.feeding(Type.LOAD_BALANCER)
    status: dict[str, Any] = {}
    if not attached:
        status["url"] = f"https://{lb.domains[0]}"
    left: list[Key] = []
    if not attached and not any(isinstance(results[s], BaseException) for s in lb_steps):
        # What an earlier spec made and this one no longer needs: an old certificate, the redirect, a
        # region's NEG (the backend service no longer lists it: it was detached above) ...
        known = ctx.memory.created | (results["discover"] if isinstance(results["discover"], set) else set())
        orphans = sorted(known - set(ours), key=lambda k: (k.kind, k.name, k.scope))
        removal = await delete_owned(
            steps.cloud, ctx.ownership, ctx.project, orphans, teardown_levels([plan])
        )
        steps.events += removal.events
        left = removal.left
        results["orphans"] = removal.errors[0] if removal.errors else None
        if not left:
            results["regions removed"] = await _leave_regions(ctx, steps, regions, known)
    status["resources"] = [resource_record(k) for k in [*ours, *left]]

    conditions: dict[Type, Condition] = {}
    _common_conditions(conditions, results, ctx, plan)
    lb_error = _first_failure(results, lb_steps)
    if lb_error is not None:
        conditions[Type.LOAD_BALANCER] = failed(Type.LOAD_BALANCER, lb_error)
    elif lb.backend_service is not None:
        conditions[Type.LOAD_BALANCER] = Condition(
            Type.LOAD_BALANCER,
            True,
            Reason.UP_TO_DATE,
            f"IAP attached to existing backend service {lb.backend_service.name!r}",
        )
    else:
        address: Observed[Any] = results["address"]
        status["ipAddress"] = address.outputs.get("address", "")
        where = f" in {', '.join(regions)}" if len(regions) > 1 else ""
        conditions[Type.LOAD_BALANCER] = Condition(
            Type.LOAD_BALANCER,
            True,
            Reason.UP_TO_DATE,
            f"forwarding {', '.join(lb.domains)} on {status['ipAddress']} "
            f"to Cloud Run service {spec.cloud_run.service!r}{where}",
        )
    if not attached:
        conditions[Type.CERTIFICATE] = certificate_condition(
            results, cert.id if cert is not None else None, lb.domains, status.get("ipAddress", "")
        )
    bs_result = results["bs"]
    if isinstance(bs_result, BaseException):
        conditions[Type.IAP] = failed(Type.IAP, bs_result)
    else:
        bs_id, bs_key = bs_result.id, bs_result.spec.key
        status["backendService"] = {"name": bs_key.name, "id": bs_id} | (
            {"region": bs_key.region} if bs_key.region else {}
        )
        where = f"regions/{bs_key.region}" if bs_key.region else "global"
        status["jwtAudience"] = f"/projects/{ctx.number}/{where}/backendServices/{bs_id}"
        client = "a custom OAuth client" if ctx.oauth else "the Google-managed OAuth client"
        conditions[Type.IAP] = Condition(
            Type.IAP, True, Reason.UP_TO_DATE, f"IAP enabled on backend service {bs_key.name!r} with {client}"
        )
    _configuration_warnings(steps, ctx, bs_result)
    return _finish(ctx, steps, settings, results=results, conditions=conditions, status=status)


async def _leave_regions(
    ctx: Context, steps: Steps, regions: tuple[str, ...], known: set[Key] | frozenset[Key]
) -> CloudError | None:
    """A region removed from cloudRun.regions: once its NEG is gone, our claim and invoker grant on its
    Cloud Run service go too (its ingress stays as it is: the operator never widens ingress)."""
    gone = sorted({k.region for k in known if k.region and k.region not in regions})
    revoke = grants.revoke_invoker(ctx.ownership.owner.id)
    for region in gone:
        target = IamTarget(IamTargetKind.CLOUD_RUN_SERVICE, ctx.project, ctx.spec.cloud_run.service, region)
        try:
            await steps.edit_policy(
                target, revoke, roles=[desired.INVOKER_ROLE], reason="Revoked", missing_ok=True
            )
        except CloudError as exc:
            return exc
    return None


def _known_regions(ctx: Context, regions: tuple[str, ...]) -> tuple[str, ...]:
    """The spec's regions and those an earlier pass built in (a region removed since)."""
    earlier = sorted({k.region for k in ctx.memory.created if k.region and k.region not in regions})
    return (*regions, *earlier)


def _first_failure(results: Mapping[str, Any], ids: tuple[str, ...]) -> BaseException | None:
    return next((results[s] for s in ids if isinstance(results[s], BaseException)), None)


def _configuration_warnings(steps: Steps, ctx: Context, backend: Any) -> None:
    """Google's known limitations of IAP behind a load balancer ("Enable IAP for Cloud Run")."""
    lb = ctx.spec.load_balancer
    assert lb is not None
    if isinstance(backend, BaseException):
        scheme = str(lb.load_balancing_scheme) if lb.backend_service is None else ""
    else:
        scheme = backend.spec.scheme
    if ctx.service.port_name == "h2c" and scheme in ("", LoadBalancingScheme.EXTERNAL):
        steps.warn(
            Reason.HTTP2_END_TO_END,
            f"Cloud Run service {ctx.service.name!r} serves HTTP/2 end to end (container port h2c): behind "
            "the classic Application Load Balancer (scheme EXTERNAL) IAP answers it with an endless redirect "
            "loop (Google's known limitation); Google recommends the global external Application Load "
            "Balancer for such services (loadBalancingScheme: EXTERNAL_MANAGED), or serve http1",
        )
    if not isinstance(backend, BaseException) and backend.outputs.get("enableCDN") == "true":
        steps.warn(
            Reason.CLOUD_CDN,
            f"backend service {backend.spec.key.name!r} has Cloud CDN enabled: IAP is incompatible with "
            "Cloud CDN (Google's known limitation); disable CDN on it",
        )


async def _direct(ctx: Context, steps: Steps, settings: Settings, plan: Plan) -> Outcome:
    graph = execute.graph(plan, ctx, steps)
    _announce_protected(graph, ctx, plan)
    results = await graph.run()
    conditions: dict[Type, Condition] = {}
    _common_conditions(conditions, results, ctx, plan)
    conditions[Type.IAP] = (
        failed(Type.IAP, results["iap"])
        if isinstance(results["iap"], BaseException)
        else Condition(
            Type.IAP, True, Reason.UP_TO_DATE, f"IAP enabled on Cloud Run service {ctx.service.name!r}"
        )
    )
    run = ctx.spec.cloud_run
    status = {
        "url": ctx.service.uri,
        "jwtAudience": f"/projects/{ctx.number}/locations/{ctx.service.region}/services/{run.service}",
    }
    return _finish(ctx, steps, settings, results=results, conditions=conditions, status=status)


def _announce_protected(graph: Graph, ctx: Context, plan: Plan) -> None:
    """Publish Protected=True the moment the nodes it depends on are done (the rest of the pass may take
    minutes)."""
    progress = ctx.progress
    if progress is None:
        return

    async def announce(_: Mapping[str, Any]) -> None:
        protected = Condition(Type.PROTECTED, True, Reason.UP_TO_DATE, PROTECTED_MESSAGE)
        with contextlib.suppress(Exception):  # best effort: the pass's own status write follows anyway
            await progress([protected])

    graph.add("protected", announce, *plan.protected_by)


def _common_conditions(
    conditions: dict[Type, Condition], results: Mapping[str, Any], ctx: Context, plan: Plan
) -> None:
    agent = results["agent"]
    conditions[Type.SERVICE_AGENT] = (
        failed(Type.SERVICE_AGENT, agent)
        if isinstance(agent, BaseException)
        else Condition(Type.SERVICE_AGENT, True, Reason.UP_TO_DATE, f"IAP service agent {agent}")
    )
    regions = ctx.spec.cloud_run.regions_in_order
    where = f" in {', '.join(regions)}" if len(regions) > 1 else ""
    ingress = plan.feeding(Type.INGRESS)
    if ingress:
        conditions[Type.INGRESS] = ok_or_failed(
            Type.INGRESS,
            _first_failure(results, ingress),
            f"ingress is {desired.INGRESS_LB}{where}: only the load balancer reaches the service",
        )
    who = "allUsers (legacy)" if ctx.spec.invoker is Invoker.ALL_USERS else "the IAP service agent"
    conditions[Type.INVOKER] = ok_or_failed(
        Type.INVOKER,
        _first_failure(results, plan.feeding(Type.INVOKER)),
        f"{desired.INVOKER_ROLE} granted to {who}{where}",
    )
    members = len(ctx.spec.access.members)
    conditions[Type.ACCESS] = ok_or_failed(
        Type.ACCESS, results["access"], f"{desired.ACCESSOR_ROLE} granted to {members} member(s)"
    )
    if "iap_settings" in plan:
        declared = iap_settings.leaves(ctx.spec.iap_settings.declared()) if ctx.spec.iap_settings else ()
        conditions[Type.IAP_SETTINGS] = ok_or_failed(
            Type.IAP_SETTINGS,
            results["iap_settings"],
            f"{len(declared)} declared IAP setting(s) in place; settings not in the spec are left as they are"
            if declared
            else "no IAP setting declared",
        )


def _finish(
    ctx: Context,
    steps: Steps,
    settings: Settings,
    *,
    results: Mapping[str, Any],
    conditions: dict[Type, Condition],
    status: dict[str, Any],
) -> Outcome:
    if ctx.spec.invoker is Invoker.ALL_USERS:
        steps.warn(
            Reason.ALL_USERS_INVOKER,
            "invoker: AllUsers grants roles/run.invoker to allUsers (the legacy way); "
            "use IapServiceAgent so only IAP can invoke the service",
        )
    outcome = Outcome(conditions=[], events=list(steps.events))
    errors = [
        r for r in results.values() if isinstance(r, BaseException) and not isinstance(r, DependencyFailed)
    ]
    for error in errors:
        if isinstance(error, CloudError) and retryable(error):
            outcome.error = outcome.error or error
        elif isinstance(error, Waiting):
            outcome.poll_after = min(outcome.poll_after or error.poll_after, error.poll_after)
        elif not isinstance(error, (CloudError, SpecError)):
            raise error  # a bug, not a cloud condition: let the wiring log it and retry
    outcome.stalled = (
        any(c.reason in PERMANENT for c in conditions.values() if c.status is False) and outcome.error is None
    )
    cert = conditions.get(Type.CERTIFICATE)
    if cert is not None and cert.reason is Reason.CERTIFICATE_PROVISIONING:
        outcome.poll_after = min(outcome.poll_after or settings.poll_interval, settings.poll_interval)
    status["serviceAgent"] = (
        results["agent"] if isinstance(results["agent"], str) else ctx.memory.service_agent
    )
    status["grants"], migrated = _grants_status(ctx, results)
    if migrated:
        status["owner"] = ctx.ownership.owner.ref
    if steps.warnings:
        reason = steps.warnings[0][0]
        conditions[Type.WARNING] = Condition(
            Type.WARNING, True, reason, "; ".join(m for _, m in steps.warnings)
        )
    else:
        conditions[Type.WARNING] = Condition(
            Type.WARNING, False, Reason.NO_WARNINGS, "no configuration warnings"
        )
    outcome.status = {k: v for k, v in status.items() if v is not None}
    outcome.conditions = summary(outcome, conditions, None, None)
    return outcome


def _grants_status(ctx: Context, results: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """What our bindings grant, as read back; and whether an earlier version's grants are migrated.

    Until they are, status keeps the earlier version's record (and no `owner`): it is the only one.
    """
    memory, ownership = ctx.memory, ctx.ownership
    run, access = results.get("invoker"), results.get("access")
    migrated = isinstance(run, Policy) and isinstance(access, Policy)
    if memory.legacy and not migrated:
        invoker, members, condition = memory.granted_invoker, memory.granted_access, memory.access_condition
    else:
        invoker = (
            grants.invoker_members(run, ownership) if isinstance(run, Policy) else memory.granted_invoker
        )
        if isinstance(access, Policy):
            members = grants.access_members(access, ownership)
            binding = grant_of(access, ownership.ids, desired.ACCESSOR_ROLE)
            condition = user_condition(binding.condition) if binding is not None else None
        else:
            members, condition = memory.granted_access, memory.access_condition
    record: dict[str, Any] = {"invoker": sorted(invoker), "access": sorted(members)}
    if condition:
        record["accessCondition"] = dict(zip(("title", "description", "expression"), condition, strict=True))
    return record, migrated or not memory.legacy
