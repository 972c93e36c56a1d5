"""Backend services (global and regional): backends on NEGs, the `iap` block, the Cloud Run IAP rule."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from iap_sandbox.emulators.gcp.core import JSON, GoogleError, cloud_run_iap_enabled, invalid

from .crud import Collection, Scope
from .links import LinkForm, Ref, stored_link

SCHEMES = {"EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"}
PROTOCOLS = {"HTTP", "HTTPS", "HTTP2", "TCP", "SSL", "UDP", "GRPC", "H2C", "UNSPECIFIED"}
BALANCING_MODES = {"UTILIZATION", "RATE", "CONNECTION", "CUSTOM_METRICS", "IN_FLIGHT"}


def _enum(body: JSON, field: str, allowed: set[str], default: str) -> str:
    value = body.get(field) or default
    if value not in allowed:
        raise invalid(f"Invalid value for field 'resource.{field}': '{value}'.")
    return str(value)


EMPTY_SECRET_SHA256 = hashlib.sha256(b"").hexdigest()


def _iap(requested: Any, current: JSON | None) -> JSON:
    """The stored `iap` block, always present (recorded: `{enabled, oauth2ClientId: "",
    oauth2ClientSecretSha256: sha256("")}` for a backend service whose IAP was never configured).

    The secret is write-only: it becomes its sha256. A write that leaves the secret out keeps the stored
    hash when the client id stays (not recorded: how else could a read-modify-write client such as gcloud
    keep a custom client?). An update that sent an empty secret shows it back as `""` (recorded after a
    PUT in globalcomputebackendservice and regionalcomputebackendservice).
    """
    if requested is None:
        requested = {}
    if not isinstance(requested, dict):
        raise invalid("Invalid value for field 'resource.iap': expected an object.")
    before = (current or {}).get("iap") or {}
    client_id = str(requested.get("oauth2ClientId") or "")
    secret = requested.get("oauth2ClientSecret")
    if secret is not None:
        digest = hashlib.sha256(str(secret).encode()).hexdigest()
    elif client_id == (before.get("oauth2ClientId") or ""):
        digest = before.get("oauth2ClientSecretSha256") or EMPTY_SECRET_SHA256
    else:
        digest = EMPTY_SECRET_SHA256
    block: JSON = {"enabled": bool(requested.get("enabled", False)), "oauth2ClientId": client_id}
    if current is not None and secret == "":
        block["oauth2ClientSecret"] = ""
    block["oauth2ClientSecretSha256"] = digest
    return block


class BackendServices(Collection):
    collection = "backendServices"
    api_resource = "backendServices"
    kind = "compute#backendService"
    singular = "backend_service"
    fingerprinted = True
    patchable = True
    updatable = True

    def writable(self, current: JSON) -> JSON:
        fields = super().writable(current)
        iap = {k: v for k, v in (fields.get("iap") or {}).items() if not k.startswith("oauth2ClientSecret")}
        fields["iap"] = iap  # the secret is write only, its hash output only
        return fields

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        """Server defaults as recorded (globalcomputebackendservice, regionalcomputebackendservice, and the
        backend services of the forwarding rule, proxy and URL map recordings): `description` "",
        `timeoutSec` 30, `sessionAffinity` NONE, `affinityCookieTtlSec` 0, the `iap` block; `protocol`,
        `port` and `portName` only when sent (none of the recorded GETs has them otherwise)."""
        fields = copy.deepcopy(body)
        fields.pop("iap", None)
        fields.pop("usedBy", None)
        default_scheme = "INTERNAL" if self.regional else "EXTERNAL"
        fields["loadBalancingScheme"] = _enum(body, "loadBalancingScheme", SCHEMES, default_scheme)
        if body.get("protocol"):
            fields["protocol"] = _enum(body, "protocol", PROTOCOLS, "HTTP")
        fields.setdefault("description", "")
        fields.setdefault("timeoutSec", 30)
        fields.setdefault("sessionAffinity", "NONE")
        fields.setdefault("affinityCookieTtlSec", 0)
        fields.setdefault("connectionDraining", {"drainingTimeoutSec": 0})  # not recorded when unsent
        if not isinstance(fields["timeoutSec"], int) or not 1 <= fields["timeoutSec"] <= 2147483647:
            raise invalid(f"Invalid value for field 'resource.timeoutSec': '{fields['timeoutSec']}'.")
        fields["backends"] = self._backends(scope, body.get("backends") or [])
        if not fields["backends"]:
            del fields["backends"]
        fields["iap"] = _iap(body.get("iap"), current)
        if fields["iap"]["enabled"]:
            self._refuse_iap_on_run_with_iap(scope, ref, fields.get("backends", []))
        return fields

    def _backends(self, scope: Scope, backends: Any) -> list[JSON]:
        if not isinstance(backends, list):
            raise invalid("Invalid value for field 'resource.backends': expected a list.")
        seen: set[str] = set()
        result = []
        for index, backend in enumerate(backends):
            field = f"resource.backends[{index}].group"
            if not isinstance(backend, dict):
                raise invalid(f"Invalid value for field 'resource.backends[{index}]'.")
            group = self.state.require_existing(
                backend.get("group"), field=field, scope=scope, collections=("networkEndpointGroups",)
            )
            if group.self_link in seen:
                raise invalid(f"Invalid value for field '{field}': duplicate backend '{group.relative}'.")
            if self.regional and group.region != scope.region:
                raise invalid(f"Invalid value for field '{field}': the NEG must be in region {scope.region}.")
            seen.add(group.self_link)
            entry = copy.deepcopy(backend)
            entry["group"] = stored_link(group, backend.get("group"), LinkForm.URL_AS_SENT)
            entry["balancingMode"] = _enum(backend, "balancingMode", BALANCING_MODES, "UTILIZATION")
            entry.setdefault("capacityScaler", 1)
            result.append(entry)
        return result

    def _refuse_iap_on_run_with_iap(self, scope: Scope, ref: Ref, backends: list[JSON]) -> None:
        """ "IAP can't be used on both Cloud Run services and the load balancer" (Google, "Enable IAP for
        Cloud Run", known limitations). The page states the incompatibility; the error is ours."""
        for backend in backends:
            neg = self.store_get_link(backend["group"])
            run = (neg or {}).get("cloudRun") or {}
            service, region = run.get("service"), (neg or {}).get("region", "").rsplit("/", 1)[-1]
            if service and cloud_run_iap_enabled(self.world.store, scope.project_id, region, service):
                raise GoogleError(
                    400,
                    f"Invalid value for field 'resource.iap.enabled': 'true'. IAP cannot be enabled on "
                    f"'{ref.relative}' because Cloud Run service 'projects/{scope.project_id}/locations/"
                    f"{region}/services/{service}' has IAP enabled directly; disable one of them first.",
                    status="FAILED_PRECONDITION",
                    reason="invalid",
                )

    def store_get_link(self, link: str) -> JSON | None:
        index = link.find("projects/")
        return self.world.store.get("compute/v1/" + link[index:]) if index >= 0 else None


class RegionBackendServices(BackendServices):
    api_resource = "regionBackendServices"
    regional = True
