"""Backend services (global and regional): backends on NEGs, the `iap` block, the Cloud Run IAP rule."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from iap_sandbox.emulators.gcp.core import JSON, GoogleError, cloud_run_iap_enabled, invalid

from .crud import Collection, Scope
from .links import Ref

SCHEMES = {"EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"}
PROTOCOLS = {"HTTP", "HTTPS", "HTTP2", "TCP", "SSL", "UDP", "GRPC", "H2C", "UNSPECIFIED"}
BALANCING_MODES = {"UTILIZATION", "RATE", "CONNECTION", "CUSTOM_METRICS", "IN_FLIGHT"}


def _enum(body: JSON, field: str, allowed: set[str], default: str) -> str:
    value = body.get(field) or default
    if value not in allowed:
        raise invalid(f"Invalid value for field 'resource.{field}': '{value}'.")
    return str(value)


def _iap(requested: Any, current: JSON | None) -> JSON | None:
    """The stored `iap` block: the secret becomes its sha256; a custom client cannot go back to managed."""
    if requested is None:
        return None
    if not isinstance(requested, dict):
        raise invalid("Invalid value for field 'resource.iap': expected an object.")
    before = (current or {}).get("iap") or {}
    enabled = bool(requested.get("enabled", False))
    client_id = requested.get("oauth2ClientId") or ""
    secret = requested.get("oauth2ClientSecret") or ""
    if enabled and not client_id and before.get("oauth2ClientId"):
        raise invalid(
            "Invalid value for field 'resource.iap': IAP on this backend service uses a custom OAuth "
            f"client ('{before['oauth2ClientId']}'); switching back to the Google-managed OAuth client "
            "is not supported."
        )
    if secret and not client_id:
        raise invalid(
            "Invalid value for field 'resource.iap.oauth2ClientSecret': set only with oauth2ClientId."
        )
    block: JSON = {"enabled": enabled}
    if client_id:
        block["oauth2ClientId"] = client_id
        if secret:
            block["oauth2ClientSecretSha256"] = hashlib.sha256(secret.encode()).hexdigest()
        elif before.get("oauth2ClientId") == client_id and before.get("oauth2ClientSecretSha256"):
            block["oauth2ClientSecretSha256"] = before["oauth2ClientSecretSha256"]
        else:
            raise invalid(
                "Invalid value for field 'resource.iap.oauth2ClientSecret': "
                "required with a new oauth2ClientId."
            )
    return block


class BackendServices(Collection):
    collection = "backendServices"
    api_resource = "backendServices"
    kind = "compute#backendService"
    singular = "backend_service"
    fingerprinted = True
    fingerprint_required = True
    patchable = True
    updatable = True

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        fields = copy.deepcopy(body)
        fields.pop("iap", None)
        fields.pop("usedBy", None)
        default_scheme = "INTERNAL" if self.regional else "EXTERNAL"
        fields["loadBalancingScheme"] = _enum(body, "loadBalancingScheme", SCHEMES, default_scheme)
        fields["protocol"] = _enum(body, "protocol", PROTOCOLS, "HTTP")
        fields.setdefault("portName", "http")
        fields.setdefault("timeoutSec", 30)
        fields.setdefault("sessionAffinity", "NONE")
        fields.setdefault("affinityCookieTtlSec", 0)
        fields.setdefault("connectionDraining", {"drainingTimeoutSec": 0})
        if not isinstance(fields["timeoutSec"], int) or not 1 <= fields["timeoutSec"] <= 2147483647:
            raise invalid(f"Invalid value for field 'resource.timeoutSec': '{fields['timeoutSec']}'.")
        fields["backends"] = self._backends(scope, body.get("backends") or [])
        if not fields["backends"]:
            del fields["backends"]
        iap = _iap(body.get("iap"), current)
        if iap is not None:
            fields["iap"] = iap
            if iap["enabled"]:
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
            entry["group"] = group.self_link
            entry["balancingMode"] = _enum(backend, "balancingMode", BALANCING_MODES, "UTILIZATION")
            entry.setdefault("capacityScaler", 1)
            result.append(entry)
        return result

    def _refuse_iap_on_run_with_iap(self, scope: Scope, ref: Ref, backends: list[JSON]) -> None:
        """GCP refuses IAP on a backend service whose Cloud Run service has IAP enabled directly."""
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
