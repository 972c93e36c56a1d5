"""Backend services (global, or regional when the key has a region) with serverless NEG backends and IAP.

The custom OAuth client secret is write-only: it is sent from `IapSettings.client_secret` and compared
through `oauth2ClientSecretSha256`; it is never logged.
"""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.resources import BackendService, IapSettings, Key, Kind, Marks, Observed
from iap_operator.gcp.compute.base import ComputeKind, description_marks, reference, relative


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
        spec = BackendService(
            key=key,
            scheme=resource.load_balancing_scheme,
            protocol=resource.protocol,
            backends=tuple(relative(b.group) for b in resource.backends),
            iap=IapSettings(
                enabled=bool(iap.enabled),
                client_id=iap.oauth2_client_id or None,
                client_secret_sha256=iap.oauth2_client_secret_sha256 or None,
            ),
        )
        return self._base_observed(resource, spec, description_marks(resource), id=str(resource.id))

    async def update(
        self, project: str, desired: BackendService, observed: Observed[BackendService]
    ) -> Observed[BackendService]:
        key = desired.key
        switching = observed.spec.iap.client_id is not None and desired.iap.client_id is None
        patch = self._managed_fields(desired, switching_to_google_client=switching)
        patch.fingerprint = observed.fingerprint or ""
        request = {**self._locate(project, key), "backend_service_resource": patch}
        try:
            await self._mutate(project, key, "patch", request)
        except CloudError as err:
            if switching and err.fault in (Fault.INVALID, Fault.FAILED_PRECONDITION):
                # GCP refuses going back from a custom OAuth client: permanent until the spec changes.
                raise CloudError(Fault.INVALID, err.message) from err
            raise
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
