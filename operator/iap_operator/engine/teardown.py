"""Deletion: reverse dependency order, 404 is done, only what this resource owns; or Abandon."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iap_operator.api import IapProtectedServiceSpec, Mode
from iap_operator.engine import desired, iam
from iap_operator.engine.errors import CloudError, SpecError
from iap_operator.engine.identity import Identity
from iap_operator.engine.outcome import Event, Memory, TeardownOutcome
from iap_operator.engine.ports import Cloud
from iap_operator.engine.removal import delete_owned, find_owned
from iap_operator.engine.resources import IamTarget, IamTargetKind, Key, Marks
from iap_operator.engine.settings import Settings


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
        keys = self._owned_keys(identity, spec, project, memory)
        try:
            if abandon:
                await self._abandon(identity, project, keys, outcome)
            else:
                await self._revoke(identity, spec, project, memory, outcome)
                await self._delete(identity, project, keys, outcome)
        except (CloudError, SpecError) as exc:
            outcome.errors.append(str(exc))
            if isinstance(exc, CloudError):
                outcome.error = exc
        outcome.done = not outcome.errors
        return outcome

    def _owned_keys(
        self, identity: Identity, spec: IapProtectedServiceSpec, project: str, memory: Memory
    ) -> list[Key]:
        keys: set[Key] = set()
        lb = spec.load_balancer
        if spec.mode is Mode.LOAD_BALANCER and lb is not None and lb.domains:
            balancer = desired.balancer(spec, project, identity.resource_name, None)
            keys |= {r.key for r in balancer.owned()}
        keys |= memory.created  # e.g. a certificate whose removal failed earlier
        return sorted(keys, key=lambda k: (k.kind, k.name))

    async def _delete(
        self, identity: Identity, project: str, keys: list[Key], outcome: TeardownOutcome
    ) -> None:
        removal = await delete_owned(self.cloud, identity, project, keys)
        outcome.events += removal.events
        outcome.errors += [e.message for e in removal.errors]
        outcome.error = outcome.error or (removal.errors[0] if removal.errors else None)

    async def _abandon(
        self, identity: Identity, project: str, keys: list[Key], outcome: TeardownOutcome
    ) -> None:
        for key in keys:
            found = await find_owned(self.cloud, identity, project, key)
            if found is not None:
                kept = await self.cloud.compute(key.kind).unmark(
                    project, found, identity.released(found.marks)
                )
                outcome.events.append(Event("Abandoned", _abandoned(key, found.marks, kept, identity)))

    async def _revoke(
        self,
        identity: Identity,
        spec: IapProtectedServiceSpec,
        project: str,
        memory: Memory,
        outcome: TeardownOutcome,
    ) -> None:
        """Remove the bindings this resource granted from IAM policies that stay."""
        run = spec.cloud_run
        edits: list[tuple[IamTarget, str, frozenset[str], iam.Condition]] = [
            (
                IamTarget(IamTargetKind.CLOUD_RUN_SERVICE, project, run.service, run.region),
                desired.INVOKER_ROLE,
                memory.granted_invoker,
                None,
            )
        ]
        if memory.granted_access:
            number = await self.cloud.projects.project_number(project)
            target = self._access_target(spec, number, identity, project)
            if target is not None:
                edits.append((target, desired.ACCESSOR_ROLE, memory.granted_access, memory.access_condition))
        for target, role, members, condition in edits:
            if not members:
                continue
            try:
                policy = await self.cloud.iam.get_policy(target)
            except CloudError as exc:
                if exc.fault == "NotFound":
                    continue  # the resource holding the policy is gone: so are the bindings
                raise
            edited = iam.revoke(policy, role, members, condition)
            if edited is not None:
                await self.cloud.iam.set_policy(target, edited)
                outcome.events.append(
                    Event("Revoked", f"revoked {role} from {', '.join(sorted(members))} on {target}")
                )

    def _access_target(
        self, spec: IapProtectedServiceSpec, number: str, identity: Identity, project: str
    ) -> IamTarget | None:
        run, lb = spec.cloud_run, spec.load_balancer
        if spec.mode is Mode.DIRECT:
            return IamTarget(IamTargetKind.IAP_CLOUD_RUN, number, run.service, run.region)
        if lb is not None and lb.backend_service is not None:
            return IamTarget(
                IamTargetKind.IAP_BACKEND_SERVICE, number, lb.backend_service.name, lb.backend_service.region
            )
        return None  # our own backend service is deleted with its policy


def _abandoned(key: Key, before: Marks, kept: Marks, identity: Identity) -> str:
    """What Abandon did to one resource, honestly: compute cannot rewrite every kind's description."""
    where = f"left {key.kind} {key.name} in place"
    if not identity.owns(kept):
        return f"{where}, ownership marks removed"
    labels = "ownership labels removed; " if before.labels != kept.labels else ""
    return (
        f"{where}; {labels}its description still names this resource as owner "
        f"(compute cannot change the description of a {key.kind})"
    )
