"""What the engine needs from the outside world. The GCP adapters and the Kubernetes wiring implement these.

Every compute kind has the same small shape: find / create / update / delete, plus `unmark` to rewrite
the marks (labels) where the API allows it: stripped on Abandon, ours again after an adoption.
Adapters raise `engine.errors.CloudError`; `find` returns None for 404; `delete` treats 404 as done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from iap_operator.engine.resources import (
    Address,
    BackendService,
    CloudRunService,
    ForwardingRule,
    IamTarget,
    Key,
    Kind,
    Marks,
    Neg,
    Observed,
    Policy,
    S,
    SslCertificate,
    TargetHttpProxy,
    TargetHttpsProxy,
    UrlMap,
)


class ComputeAdapter(Protocol[S]):
    async def find(self, project: str, key: Key) -> Observed[S] | None: ...

    async def create(self, project: str, desired: S, marks: Marks) -> Observed[S]: ...

    async def update(self, project: str, desired: S, observed: Observed[S]) -> Observed[S]: ...

    async def delete(self, project: str, key: Key) -> None: ...

    async def unmark(self, project: str, observed: Observed[S], marks: Marks) -> Marks:
        """Rewrite the marks to `marks` where the API allows it (Abandon); return the marks the resource
        keeps (what the API cannot change stays as it was)."""
        ...


class UrlMapRulesPort(Protocol):
    """A shared balancer's URL map as compute JSON (engine.urlmap_rules edits it; docs/shared-balancer.md)."""

    async def read_rules(self, project: str, name: str) -> Mapping[str, Any] | None:
        """The URL map (camelCase fields, `fingerprint` included), or None for 404."""
        ...

    async def write_rules(self, project: str, name: str, body: Mapping[str, Any]) -> None:
        """`urlMaps.update` with the whole map `body` (its `fingerprint` included): CloudError CONFLICT
        when the fingerprint is stale (412)."""
        ...


class InventoryPort(Protocol):
    async def names(self, project: str, kind: Kind, region: str | None, pattern: str) -> list[str]:
        """Names of the `kind` resources (global, or in `region`) that match the RE2 `pattern` whole."""
        ...


class ProjectsPort(Protocol):
    async def project_number(self, project_id: str) -> str: ...


class ServiceIdentityPort(Protocol):
    async def ensure_service_identity(self, project_number: str, service: str) -> str:
        """Create the service agent of `service` if needed; return its email."""
        ...


class CloudRunPort(Protocol):
    async def find(self, project: str, region: str, name: str) -> CloudRunService | None: ...

    async def update(
        self, service: CloudRunService, *, ingress: str | None = None, iap_enabled: bool | None = None
    ) -> CloudRunService: ...


class IamPort(Protocol):
    async def get_policy(self, target: IamTarget) -> Policy: ...

    async def set_policy(self, target: IamTarget, policy: Policy) -> Policy: ...


class IapSettingsPort(Protocol):
    """IAP v1 `iapSettings` of an IAP resource (`projects/NUMBER/iap_web/...`), as the API's JSON
    (camelCase, enums by name, durations as "600s"); absent fields are unset."""

    async def get(self, resource: str) -> Mapping[str, Any]: ...

    async def update(
        self, resource: str, settings: Mapping[str, Any], mask: tuple[str, ...]
    ) -> Mapping[str, Any]:
        """Write only the `mask` paths (relative to IapSettings, e.g. accessSettings.corsSettings)."""
        ...


class SecretsPort(Protocol):
    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The Secret's decoded data, or None when it does not exist."""
        ...


@dataclass(frozen=True)
class Cloud:
    """Every port the engine uses, one adapter per GCP kind."""

    projects: ProjectsPort
    identities: ServiceIdentityPort
    cloud_run: CloudRunPort
    iam: IamPort
    iap_settings: IapSettingsPort
    negs: ComputeAdapter[Neg]
    backend_services: ComputeAdapter[BackendService]
    url_maps: ComputeAdapter[UrlMap]
    ssl_certificates: ComputeAdapter[SslCertificate]
    https_proxies: ComputeAdapter[TargetHttpsProxy]
    http_proxies: ComputeAdapter[TargetHttpProxy]
    addresses: ComputeAdapter[Address]
    forwarding_rules: ComputeAdapter[ForwardingRule]
    inventory: InventoryPort  # listing by name, to find what a lost status no longer names
    url_map_rules: UrlMapRulesPort | None = None  # shared balancers' host rules (docs/shared-balancer.md)

    def compute(self, kind: Kind) -> ComputeAdapter[Any]:
        adapters: dict[Kind, ComputeAdapter[Any]] = {
            Kind.NEG: self.negs,
            Kind.BACKEND_SERVICE: self.backend_services,
            Kind.URL_MAP: self.url_maps,
            Kind.SSL_CERTIFICATE: self.ssl_certificates,
            Kind.TARGET_HTTPS_PROXY: self.https_proxies,
            Kind.TARGET_HTTP_PROXY: self.http_proxies,
            Kind.ADDRESS: self.addresses,
            Kind.FORWARDING_RULE: self.forwarding_rules,
        }
        return adapters[kind]
