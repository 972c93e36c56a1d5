"""Backend services (global, or regional when the key has a region) with serverless NEG backends and IAP.

The custom OAuth client secret is write-only: it is sent from `IapSettings.client_secret` and compared
through `oauth2ClientSecretSha256`; it is never logged. GCP always answers an `iap` block: with the
Google-managed client (or IAP never configured) `oauth2ClientId` is "" and `oauth2ClientSecretSha256` is
the sha256 of the empty string; both mean "no custom client" here.

A patch carries only the managed fields that differ from what GCP reports: for a backend service someone
else owns (attach mode) that is the `iap` block alone, so their backends' settings are never rewritten.
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.resources import BackendService, IapSettings, Key, Kind, Marks, Observed
from iap_operator.gcp.compute.base import ComputeKind, description_marks, reference, relative

EMPTY_SECRET_SHA256 = hashlib.sha256(b"").hexdigest()


def custom_client(client_id: str, secret_sha256: str) -> tuple[str | None, str | None]:
    """(client id, secret hash) of a custom OAuth client; (None, None) for the Google-managed one."""
    if not client_id:
        return None, None
    return client_id, (secret_sha256 if secret_sha256 not in ("", EMPTY_SECRET_SHA256) else None)


class BackendServiceAdapter(ComputeKind[BackendService]):
    kind = Kind.BACKEND_SERVICE
    field = "backend_service"
    collection = "backendServices"

    def to_resource(self, project: str, desired: BackendService, marks: Marks) -> compute_v1.BackendService:
        resource = self._managed_fields(desired, switching_to_google_client=False)
        resource.name = desired.key.name
        resource.description = marks.description
        return resource

    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[BackendService]:
        iap = resource.iap
        client_id, secret_sha256 = custom_client(iap.oauth2_client_id, iap.oauth2_client_secret_sha256)
        spec = BackendService(
            key=key,
            scheme=resource.load_balancing_scheme,
            protocol=resource.protocol,
            backends=tuple(sorted(relative(b.group) for b in resource.backends)),
            iap=IapSettings(
                enabled=bool(iap.enabled), client_id=client_id, client_secret_sha256=secret_sha256
            ),
        )
        outputs = {"id": str(resource.id), "enableCDN": "true" if resource.enable_c_d_n else "false"}
        return self._base_observed(resource, spec, description_marks(resource), **outputs)

    async def update(
        self, project: str, desired: BackendService, observed: Observed[BackendService]
    ) -> Observed[BackendService]:
        key = desired.key
        switching = observed.spec.iap.client_id is not None and desired.iap.client_id is None
        wanted = self._managed_fields(desired, switching_to_google_client=switching)
        patch = compute_v1.BackendService(fingerprint=observed.fingerprint or "")
        current = observed.spec
        if desired.scheme != current.scheme:
            patch.load_balancing_scheme = wanted.load_balancing_scheme
        if desired.protocol != current.protocol:
            patch.protocol = wanted.protocol
        if desired.backends != current.backends:
            patch.backends = wanted.backends
        if desired.iap != current.iap:
            patch.iap = wanted.iap
        request = {**self._locate(project, key), "backend_service_resource": patch}
        await self._mutate(project, key, "patch", request)
        return await self._require(project, key)

    async def unmark(self, project: str, observed: Observed[BackendService], marks: Marks) -> Marks:
        body = compute_v1.BackendService(
            description=marks.description, fingerprint=observed.fingerprint or ""
        )
        return await self._patch_marks(project, observed, body)

    @staticmethod
    def _managed_fields(
        desired: BackendService, *, switching_to_google_client: bool
    ) -> compute_v1.BackendService:
        iap = compute_v1.BackendServiceIAP(enabled=desired.iap.enabled)
        if desired.iap.client_id is not None:
            iap.oauth2_client_id = desired.iap.client_id
            if desired.iap.client_secret is not None:
                iap.oauth2_client_secret = desired.iap.client_secret
        elif switching_to_google_client:
            # Clearing the custom client is how one asks for the Google-managed one.
            iap.oauth2_client_id = ""
            iap.oauth2_client_secret = ""
        return compute_v1.BackendService(
            load_balancing_scheme=desired.scheme,
            protocol=desired.protocol,
            backends=[compute_v1.Backend(group=reference(path)) for path in desired.backends],
            iap=iap,
        )
