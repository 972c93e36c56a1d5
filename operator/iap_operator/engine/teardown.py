"""Deletion: reverse dependency order, 404 is done, only what this resource owns; or Abandon.

What to delete and revoke comes from GCP, not from status: the claim gives the lineage our resources are
named after, listing finds them, their marks say they are ours, and our IAM bindings carry our mark
(`engine.records`). The claim on the Cloud Run service goes last, so a teardown interrupted at any point
finds everything again on its next attempt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from iap_operator.api import IapProtectedServiceSpec, Mode
from iap_operator.engine import claims, desired, grants, plan
from iap_operator.engine.errors import CloudError, SpecError, Waiting
from iap_operator.engine.identity import Identity, Owner, Ownership
from iap_operator.engine.outcome import Event, Memory, TeardownOutcome
from iap_operator.engine.plan import Plan
from iap_operator.engine.ports import Cloud
from iap_operator.engine.removal import delete_owned, discover, find_owned
from iap_operator.engine.resources import IamTarget, IamTargetKind, Key, Marks
from iap_operator.engine.settings import Settings
from iap_operator.engine.steps import Steps


class Teardown:
    def __init__(self, cloud: Cloud, settings: Settings) -> None:
        self.cloud = cloud
        self.settings = settings

    async def run(
        self,
        identity: Identity,
        spec: IapProtectedServiceSpec,
        status: Mapping[str, Any] | None,
        *,
        abandon: bool,
    ) -> TeardownOutcome:
        outcome = TeardownOutcome(done=False)
        project = spec.project_id or self.settings.default_project
        if not project or not self.settings.projects.allows(
            identity.namespace, project, self.settings.default_project
        ):
            outcome.done = True  # the operator never acted on that project for this resource
            return outcome
        memory = Memory.from_status(status)
        try:
            number = await self.cloud.projects.project_number(project)
            owner = Owner.of(self.settings.cluster_name, identity)
            survey = await claims.survey(
                self.cloud, identity, owner, spec=spec, project=project, number=number, memory=memory,
                poll_after=0, strict=False,
            )  # fmt: skip
        except Waiting:
            outcome.done = True  # an adoption that never happened: nothing was written
            return outcome
        except CloudError as exc:
            outcome.errors.append(str(exc))
            outcome.error = exc
            return outcome
        steps = Steps(self.cloud, self.settings, survey.ownership, project, drift=False)
        try:
            keys = await self._owned_keys(survey.ownership, spec, project, memory)
            if abandon:
                await self._abandon(survey.ownership, project, keys, outcome)
                await self._release(steps, survey, outcome)
            else:
                await self._revoke_access(steps, survey, spec, number=number, project=project, memory=memory)
                await self._delete(survey.ownership, project, keys, outcome)
                if not outcome.errors:
                    await self._revoke_claim(steps, survey, memory)
        except (CloudError, SpecError) as exc:
            outcome.errors.append(str(exc))
            if isinstance(exc, CloudError):
                outcome.error = exc
        outcome.events += steps.events
        outcome.done = not outcome.errors
        return outcome

    async def _owned_keys(
        self, ownership: Ownership, spec: IapProtectedServiceSpec, project: str, memory: Memory
    ) -> list[Key]:
        keys: set[Key] = set(memory.created)  # e.g. a certificate whose removal failed earlier
        lb = spec.load_balancer
        if spec.mode is Mode.LOAD_BALANCER and lb is not None:
            if lb.domains:
                keys |= set(self._plan(spec, project, ownership).owned())
            earlier = {k.region for k in memory.created if k.region}
            regions = [
                *spec.cloud_run.regions_in_order,
                *sorted(earlier - set(spec.cloud_run.regions_in_order)),
            ]
            keys |= await discover(self.cloud, ownership, project, regions)
        return sorted(keys, key=lambda k: (k.kind, k.name, k.scope))

    @staticmethod
    def _plan(spec: IapProtectedServiceSpec, project: str, ownership: Ownership) -> Plan:
        return plan.build(spec, project=project, names=ownership.resource_name, oauth=None, held=True)

    async def _delete(
        self, ownership: Ownership, project: str, keys: list[Key], outcome: TeardownOutcome
    ) -> None:
        removal = await delete_owned(self.cloud, ownership, project, keys, plan.teardown_levels())
        outcome.events += removal.events
        outcome.errors += [e.message for e in removal.errors]
        outcome.error = outcome.error or (removal.errors[0] if removal.errors else None)

    async def _abandon(
        self, ownership: Ownership, project: str, keys: list[Key], outcome: TeardownOutcome
    ) -> None:
        for key in keys:
            found = await find_owned(self.cloud, ownership, project, key)
            if found is not None:
                kept = await self.cloud.compute(key.kind).unmark(
                    project, found, ownership.released(found.marks)
                )
                outcome.events.append(Event("Abandoned", _abandoned(key, found.marks, kept, ownership)))

    async def _release(self, steps: Steps, survey: claims.Survey, outcome: TeardownOutcome) -> None:
        """Abandon: grants stay (the service keeps working); our claims become released ones."""
        targets = [(survey.run_target, desired.INVOKER_ROLE)]
        targets += [(t, desired.INVOKER_ROLE) for t in _other_regions(survey)]
        if survey.bs_target is not None:
            targets.append((survey.bs_target, desired.ACCESSOR_ROLE))
        for target, role in targets:
            await steps.edit_policy(
                target, grants.release(survey.ownership), roles=[role], reason="Released", missing_ok=True
            )

    async def _revoke_access(
        self, steps: Steps, survey: claims.Survey, spec: IapProtectedServiceSpec, *, number: str,
        project: str, memory: Memory,
    ) -> None:  # fmt: skip
        """Our access grants (and the claim on an attached backend service) go before anything else."""
        target = await self._access_target(survey, spec, number, project)
        if target is None:
            return
        legacy = frozenset((desired.ACCESSOR_ROLE, memory.access_condition, m) for m in memory.legacy_access)
        await steps.edit_policy(
            target,
            grants.revoke(legacy=legacy),
            roles=[desired.ACCESSOR_ROLE],
            reason="Revoked",
            missing_ok=True,
        )

    async def _revoke_claim(self, steps: Steps, survey: claims.Survey, memory: Memory) -> None:
        """Last: the invoker grants and claims on the Cloud Run service, in the other regions first and in
        the first region (where the claim that names our lineage is held) last: another resource may
        take it then."""
        revoke_here = grants.revoke_invoker(survey.ownership.owner.id)
        for target in _other_regions(survey):
            await steps.edit_policy(
                target, revoke_here, roles=[desired.INVOKER_ROLE], reason="Revoked", missing_ok=True
            )
        standing = claims.standing(survey.run_policy, survey.ownership.owner.id)
        added_all_users = standing.ours is not None and standing.ours.mark.all_users
        legacy = frozenset((desired.INVOKER_ROLE, None, m) for m in memory.legacy_invoker)
        edit = grants.revoke(legacy=legacy, all_users=added_all_users)
        await steps.edit_policy(
            survey.run_target, edit, roles=[desired.INVOKER_ROLE], reason="Revoked", missing_ok=True
        )

    async def _access_target(
        self, survey: claims.Survey, spec: IapProtectedServiceSpec, number: str, project: str
    ) -> IamTarget | None:
        run, lb = spec.cloud_run, spec.load_balancer
        if spec.mode is Mode.DIRECT:
            return IamTarget(IamTargetKind.IAP_CLOUD_RUN, number, run.service, run.primary_region)
        if lb is not None and lb.backend_service is not None:
            return survey.bs_target  # None: the backend service is gone, and its policy with it
        if lb is None or not lb.domains:
            return None
        key = desired.balancer(spec, project, survey.ownership.resource_name, None).backend_service.key
        ours = await find_owned(self.cloud, survey.ownership, project, key)
        return IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, number, ours.id) if ours is not None else None


def _other_regions(survey: claims.Survey) -> list[IamTarget]:
    """The Cloud Run services of `cloudRun.regions` after the first: each has our claim and grant too."""
    first = survey.run_target
    return [dataclasses.replace(first, region=region) for region in survey.regions if region != first.region]


def _abandoned(key: Key, before: Marks, kept: Marks, ownership: Ownership) -> str:
    """What Abandon did to one resource, honestly: compute cannot rewrite every kind's description."""
    where = f"left {key.kind} {key.name} in place"
    labels = "ownership labels removed; " if before.labels != kept.labels else ""
    if not ownership.manages(kept):
        return f"{where}; {labels}marked as released (an object of the same name, or an heir, adopts it)"
    return (
        f"{where}; {labels}its description still names this resource as owner "
        f"(compute cannot change the description of a {key.kind})"
    )
