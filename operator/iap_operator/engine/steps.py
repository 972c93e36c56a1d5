"""The actions of a pass. Each observes first and writes only what differs; each records Events."""

from __future__ import annotations

import dataclasses
from typing import Any

from iap_operator.engine import iam
from iap_operator.engine.conditions import Reason
from iap_operator.engine.desired import ACCESSOR_ROLE, IAP_SERVICE, INGRESS_LB, INVOKER_ROLE
from iap_operator.engine.errors import CloudError, Fault, SpecError
from iap_operator.engine.identity import Identity
from iap_operator.engine.outcome import Event, Memory
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import (
    BackendService,
    CloudRunService,
    IamTarget,
    IapSettings,
    Key,
    Kind,
    Observed,
    Policy,
    S,
)
from iap_operator.engine.settings import Settings

# Kinds GCP cannot update in place: a changed spec means a new resource (the name carries a hash).
_IMMUTABLE = {Kind.NEG, Kind.SSL_CERTIFICATE}


class Waiting(Exception):
    """Not an error: something outside the operator must happen first (look again after `poll_after`)."""

    def __init__(self, reason: Reason, message: str, poll_after: float) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.poll_after = poll_after


class Steps:
    def __init__(
        self, cloud: Cloud, settings: Settings, identity: Identity, project: str, *, drift: bool
    ) -> None:
        self.cloud = cloud
        self.settings = settings
        self.identity = identity
        self.project = project
        self.drift = drift
        self.events: list[Event] = []
        self.warnings: list[tuple[Reason, str]] = []
        self.invoker: frozenset[str] | None = None
        self.access: frozenset[str] | None = None
        self.access_condition: tuple[str, str, str] | None = None

    def warn(self, reason: Reason, message: str) -> None:
        self.warnings.append((reason, message))

    def _changed(self, kind: str, what: str) -> None:
        reason = "DriftRepaired" if self.drift else "Updated"
        message = f"{'repaired drift: ' if self.drift else ''}{what}"
        self.events.append(Event(reason, message, warning=self.drift, kind=kind))

    # --- compute resources -------------------------------------------------------------------------

    async def ensure(self, want: S) -> Observed[S]:
        """Find, then create, adopt-refuse or update the resource to match `want`."""
        adapter = self.cloud.compute(want.key.kind)
        key: Key = want.key
        have: Observed[S] | None = await adapter.find(self.project, key)
        if have is None:
            created: Observed[S] = await adapter.create(self.project, want, self.identity.marks())
            self.events.append(Event("Created", f"created {key.kind} {key.name}"))
            return created
        if not self.identity.owns(have.marks):
            raise SpecError(
                Reason.MANAGEMENT_CONFLICT,
                f"{key.kind} {key.name!r} exists but is not managed by this resource; "
                "the operator will not adopt it: delete or rename it",
            )
        if have.spec == want:
            return have
        if isinstance(want, BackendService) and isinstance(have.spec, BackendService):
            self._check_oauth_switch(have.spec.iap, want.iap)  # refused without a write, as in attach_iap
        if key.kind in _IMMUTABLE:
            raise CloudError(
                Fault.INVALID, f"{key.kind} {key.name!r} differs from the desired state and cannot be updated"
            )
        updated: Observed[S] = await adapter.update(self.project, want, have)
        self._changed(str(key.kind), f"updated {key.kind} {key.name}")
        return updated

    async def existing(self, key: Key) -> Observed[Any]:
        found: Observed[Any] | None = await self.cloud.compute(key.kind).find(self.project, key)
        if found is None:
            raise Waiting(
                Reason.NOT_FOUND,
                f"{key.kind} {key.name!r} named in the spec does not exist",
                self.settings.missing_retry,
            )
        return found

    async def attach_iap(self, key: Key, iap: IapSettings) -> Observed[BackendService]:
        """Turn IAP on for a backend service someone else manages: only its `iap` block is ours."""
        have: Observed[BackendService] | None = await self.cloud.backend_services.find(self.project, key)
        if have is None:
            raise Waiting(
                Reason.NOT_FOUND,
                f"backend service {key.name!r} named in the spec does not exist",
                self.settings.missing_retry,
            )
        if have.spec.iap == iap:
            return have
        self._check_oauth_switch(have.spec.iap, iap)
        want = dataclasses.replace(have.spec, iap=iap)
        updated = await self.cloud.backend_services.update(self.project, want, have)
        self._changed("BackendServiceIap", f"enabled IAP on backend service {key.name}")
        return updated

    @staticmethod
    def _check_oauth_switch(have: IapSettings, want: IapSettings) -> None:
        if have.client_id and not want.client_id:
            raise SpecError(
                Reason.OAUTH_CLIENT_CHANGE_REFUSED,
                "the backend service uses a custom OAuth client; GCP refuses switching back to the "
                "Google-managed client: set oauthClient again, or recreate the resource",
            )

    # --- Cloud Run -----------------------------------------------------------------------------------

    async def restrict_ingress(self, service: CloudRunService) -> None:
        if service.ingress == INGRESS_LB:
            return
        await self.cloud.cloud_run.update(service, ingress=INGRESS_LB)
        self._changed(
            "CloudRunIngress",
            f"set ingress of Cloud Run service {service.name} to {INGRESS_LB} (was {service.ingress})",
        )

    async def enable_direct_iap(self, service: CloudRunService) -> None:
        if service.iap_enabled:
            return
        await self.cloud.cloud_run.update(service, iap_enabled=True)
        self._changed("CloudRunIap", f"enabled IAP on Cloud Run service {service.name}")

    async def service_agent(self, number: str, known: str | None) -> str:
        expected = f"service-{number}@gcp-sa-iap.iam.gserviceaccount.com"
        if known == expected:
            return known  # created before; generating it again would be a needless write
        email = await self.cloud.identities.ensure_service_identity(number, IAP_SERVICE)
        if email != expected:  # never grant roles to an identity we did not expect
            raise CloudError(Fault.INVALID, f"the IAP service agent came back as {email!r}, not {expected!r}")
        self.events.append(Event("ServiceAgentReady", f"IAP service agent {email} is ready"))
        return email

    # --- IAM -----------------------------------------------------------------------------------------

    async def grant_invoker(self, target: IamTarget, member: str, granted_before: frozenset[str]) -> None:
        stale = granted_before - {member}
        added = await self._edit_policy(
            target, INVOKER_ROLE, want={member}, stale=stale, condition=None, stale_condition=None
        )
        self.invoker = (granted_before & {member}) | added

    async def grant_access(self, target: IamTarget, ctx: Any) -> None:
        spec_access = ctx.spec.access
        cond = spec_access.condition
        condition = (cond.title, cond.description or "", cond.expression) if cond else None
        want = set(spec_access.members)
        before: Memory = ctx.memory
        stale = set(before.granted_access) - want
        old_condition = before.access_condition
        if old_condition != condition:  # a new condition: our old bindings move to it
            stale = set(before.granted_access)
        added = await self._edit_policy(
            target, ACCESSOR_ROLE, want=want, stale=stale, condition=condition, stale_condition=old_condition
        )
        kept = before.granted_access & want if old_condition == condition else frozenset()
        self.access = frozenset(kept | added)
        self.access_condition = condition if want else None

    async def _edit_policy(
        self,
        target: IamTarget,
        role: str,
        *,
        want: set[str],
        stale: set[str] | frozenset[str],
        condition: iam.Condition,
        stale_condition: iam.Condition,
    ) -> frozenset[str]:
        """Read-modify-write with the etag, redone from the read on a conflict. Returns members we added."""
        for attempt in range(self.settings.iam_attempts):
            policy = await self.cloud.iam.get_policy(target)
            present = iam.members_of(policy, role, condition)
            added = frozenset(want) - present
            gone = frozenset(stale) & iam.members_of(policy, role, stale_condition)
            edited: Policy = policy
            if gone:
                edited = iam.revoke(edited, role, gone, stale_condition) or edited
            if added:
                edited = iam.grant(edited, role, added, condition) or edited
            if edited is policy:
                return frozenset()
            try:
                await self.cloud.iam.set_policy(target, edited)
            except CloudError as exc:
                if exc.fault is Fault.CONFLICT and attempt + 1 < self.settings.iam_attempts:
                    continue
                raise
            what = [f"granted {role} to {', '.join(sorted(added))}"] if added else []
            what += [f"revoked {role} from {', '.join(sorted(gone))}"] if gone else []
            self._changed(f"IamPolicy/{target.kind}", f"{'; '.join(what)} on {target}")
            return added
        raise AssertionError("unreachable")

    def grants_status(self, memory: Memory) -> dict[str, Any]:
        """What this resource granted, so a later pass (or teardown) removes only its own bindings."""
        invoker = self.invoker if self.invoker is not None else memory.granted_invoker
        access = self.access if self.access is not None else memory.granted_access
        condition = self.access_condition if self.access is not None else memory.access_condition
        grants: dict[str, Any] = {"invoker": sorted(invoker), "access": sorted(access)}
        if condition:
            grants["accessCondition"] = {
                "title": condition[0],
                "description": condition[1],
                "expression": condition[2],
            }
        return grants
