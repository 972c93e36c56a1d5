"""The actions of a pass. Each observes first and writes only what differs; each records Events."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from iap_operator.engine import records
from iap_operator.engine.conditions import Reason
from iap_operator.engine.desired import IAP_SERVICE, INGRESS_LB
from iap_operator.engine.errors import CloudError, Fault, SpecError, Waiting
from iap_operator.engine.identity import Ownership
from iap_operator.engine.outcome import Event
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import (
    DESCRIBED_KINDS,
    LABELED_KINDS,
    BackendService,
    CloudRunService,
    IamTarget,
    IapSettings,
    Key,
    Kind,
    Marks,
    Observed,
    Policy,
    S,
)
from iap_operator.engine.settings import Settings

# Kinds GCP cannot update in place: a changed spec means a new resource (the name carries a hash).
_IMMUTABLE = {Kind.NEG, Kind.SSL_CERTIFICATE}


__all__ = ["Steps", "Waiting"]


class Steps:
    def __init__(
        self, cloud: Cloud, settings: Settings, ownership: Ownership, project: str, *, drift: bool
    ) -> None:
        self.cloud = cloud
        self.settings = settings
        self.ownership = ownership
        self.project = project
        self.drift = drift
        self.events: list[Event] = []
        self.warnings: list[tuple[Reason, str]] = []

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
            created: Observed[S] = await adapter.create(self.project, want, self.ownership.marks())
            self.events.append(Event("Created", f"created {key.kind} {key.name}"))
            return created
        if not self.ownership.owns(have.marks):
            raise SpecError(
                Reason.MANAGEMENT_CONFLICT,
                f"{key.kind} {key.name!r} exists but is not managed by this resource; "
                "the operator will not adopt it: delete or rename it",
            )
        have = await self._remark(have)
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

    async def attach_iap(
        self, key: Key, iap: IapSettings, seen: Observed[BackendService] | None = None
    ) -> Observed[BackendService]:
        """Turn IAP on for a backend service someone else manages: only its `iap` block is ours.
        `seen`: as just read (preflight); a stale fingerprint then fails the update, which is retried."""
        have = seen or await self.cloud.backend_services.find(self.project, key)
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

    async def _remark(self, have: Observed[S]) -> Observed[S]:
        """Ours by an inherited or released mark (adopted, abandoned earlier): mark it as ours again where
        compute lets the marks change (labels; the description of some kinds)."""
        key = have.spec.key
        want = self.ownership.remarked(have.marks)
        stale = (key.kind in LABELED_KINDS and want.labels != have.marks.labels) or (
            key.kind in DESCRIBED_KINDS and want.description != have.marks.description
        )
        if not stale:
            return have
        marks = Marks(
            want.description if key.kind in DESCRIBED_KINDS else have.marks.description,
            want.labels if key.kind in LABELED_KINDS else have.marks.labels,
        )
        await self.cloud.compute(key.kind).unmark(self.project, have, marks)
        if have.marks.description == want.description:
            # Our own mark, only the labels gone: GCP drops them on some inserts, anyone may remove them.
            self._changed(str(key.kind), f"set the ownership labels of {key.kind} {key.name}")
        else:
            owner = self.ownership.owner.ref
            self.events.append(Event("Adopted", f"marked {key.kind} {key.name} as managed for {owner}"))
        return await self.cloud.compute(key.kind).find(self.project, key) or have

    # --- IAM: every binding we write carries our mark (engine.records) ---------------------------------

    async def edit_policy(
        self,
        target: IamTarget,
        plan: Callable[[Policy], records.Edit],
        *,
        roles: Iterable[str],
        first: Policy | None = None,
        reason: str | None = None,
        missing_ok: bool = False,
    ) -> Policy:
        """Read-modify-write with the etag, redone from the read on a conflict; returns the policy as it
        is now. `plan` sees each read (and may raise: a claim someone else took meanwhile). `reason`
        names the Event (default: Updated / DriftRepaired); `missing_ok`: a policy whose resource is
        gone has none of our bindings left (teardown)."""
        for attempt in range(self.settings.iam_attempts):
            try:
                policy = (
                    first if attempt == 0 and first is not None else await self.cloud.iam.get_policy(target)
                )
            except CloudError as exc:
                if missing_ok and exc.fault is Fault.NOT_FOUND:
                    return Policy(())
                raise
            edited = records.apply(policy, self.ownership.ids, plan(policy))
            if edited is None:
                return policy
            try:
                stored = await self.cloud.iam.set_policy(target, edited)
            except CloudError as exc:
                if exc.fault is Fault.CONFLICT and attempt + 1 < self.settings.iam_attempts:
                    continue
                if missing_ok and exc.fault is Fault.NOT_FOUND:
                    return Policy(())
                raise
            what = []
            for change in records.changes(policy, edited, roles):
                if change.added:
                    what.append(f"granted {change.role} to {', '.join(sorted(change.added))}")
                if change.removed:
                    what.append(f"revoked {change.role} from {', '.join(sorted(change.removed))}")
            message = f"{'; '.join(what) or 'updated the claim'} on {target}"
            if reason is None:
                self._changed(f"IamPolicy/{target.kind}", message)
            else:
                self.events.append(Event(reason, message, kind=f"IamPolicy/{target.kind}"))
            return stored
        raise AssertionError("unreachable")
