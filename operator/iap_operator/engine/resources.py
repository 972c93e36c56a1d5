"""The GCP resources the engine manages, as frozen values: desired state and observed state share a type.

Each spec type holds only the fields the operator manages, normalized, so `desired == observed.spec`
means "up to date" and no write is needed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar


class Kind(enum.StrEnum):
    NEG = "NetworkEndpointGroup"
    BACKEND_SERVICE = "BackendService"
    URL_MAP = "UrlMap"
    SSL_CERTIFICATE = "SslCertificate"
    TARGET_HTTPS_PROXY = "TargetHttpsProxy"
    TARGET_HTTP_PROXY = "TargetHttpProxy"
    ADDRESS = "GlobalAddress"
    FORWARDING_RULE = "GlobalForwardingRule"


# What `unmark` can rewrite (compute v1): labels of the kinds that have them (`setLabels`), the
# description of the kinds whose `patch` takes one. Other kinds keep the marks they were created with.
LABELED_KINDS = frozenset({Kind.ADDRESS, Kind.FORWARDING_RULE})
DESCRIBED_KINDS = frozenset(
    {Kind.BACKEND_SERVICE, Kind.URL_MAP, Kind.TARGET_HTTPS_PROXY, Kind.TARGET_HTTP_PROXY}
)


@dataclass(frozen=True)
class Key:
    """Where a compute resource lives: its name and region (None = global)."""

    kind: Kind
    name: str
    region: str | None = None

    @property
    def scope(self) -> str:
        return self.region or "global"

    def path(self, project: str) -> str:
        """The relative resource path compute uses in references."""
        where = f"regions/{self.region}" if self.region else "global"
        collection = _COLLECTIONS[self.kind]
        return f"projects/{project}/{where}/{collection}/{self.name}"


_COLLECTIONS = {
    Kind.NEG: "networkEndpointGroups",
    Kind.BACKEND_SERVICE: "backendServices",
    Kind.URL_MAP: "urlMaps",
    Kind.SSL_CERTIFICATE: "sslCertificates",
    Kind.TARGET_HTTPS_PROXY: "targetHttpsProxies",
    Kind.TARGET_HTTP_PROXY: "targetHttpProxies",
    Kind.ADDRESS: "addresses",
    Kind.FORWARDING_RULE: "forwardingRules",
}


@dataclass(frozen=True)
class Marks:
    """Ownership marks: the description always, labels where compute v1 has them."""

    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Neg:
    key: Key
    cloud_run_service: str


@dataclass(frozen=True)
class IapSettings:
    enabled: bool
    client_id: str | None = None
    # Compared through its sha256; the value itself is write-only and never shown.
    client_secret_sha256: str | None = None
    client_secret: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BackendService:
    key: Key
    scheme: str = "EXTERNAL"
    protocol: str = "HTTPS"
    backends: tuple[str, ...] = ()  # relative paths of NEGs
    iap: IapSettings = IapSettings(enabled=False)


@dataclass(frozen=True)
class UrlMap:
    key: Key
    default_service: str | None = None  # relative path of the backend service
    https_redirect: bool = False  # a redirect-only map (HTTP -> HTTPS)


@dataclass(frozen=True)
class SslCertificate:
    key: Key
    domains: tuple[str, ...]


@dataclass(frozen=True)
class TargetHttpsProxy:
    key: Key
    url_map: str
    ssl_certificates: tuple[str, ...]


@dataclass(frozen=True)
class TargetHttpProxy:
    key: Key
    url_map: str


@dataclass(frozen=True)
class Address:
    key: Key


@dataclass(frozen=True)
class ForwardingRule:
    key: Key
    target: str
    ip_address: str  # relative path of the global address
    port_range: str
    scheme: str = "EXTERNAL"


Spec = (
    Neg
    | BackendService
    | UrlMap
    | SslCertificate
    | TargetHttpsProxy
    | TargetHttpProxy
    | Address
    | ForwardingRule
)
S = TypeVar(
    "S",
    Neg,
    BackendService,
    UrlMap,
    SslCertificate,
    TargetHttpsProxy,
    TargetHttpProxy,
    Address,
    ForwardingRule,
)


@dataclass(frozen=True)
class Observed(Generic[S]):
    """A resource as GCP reports it: the managed fields plus identity, marks and outputs."""

    spec: S
    id: str
    self_link: str
    marks: Marks
    fingerprint: str | None = None
    # Read-only facts worth reporting: an address's IP, a certificate's provisioning status (`status`, and
    # `DOMAIN_STATUS + domain` per domain), whether a backend service has Cloud CDN on (`enableCDN`).
    outputs: Mapping[str, str] = field(default_factory=dict)


DOMAIN_STATUS = "domain/"  # Observed.outputs key prefix: a managed certificate's status of one domain


@dataclass(frozen=True)
class CloudRunService:
    project: str
    region: str
    name: str
    ingress: str
    iap_enabled: bool
    uri: str = ""
    etag: str = ""
    port_name: str = ""  # "h2c": HTTP/2 end to end


@dataclass(frozen=True)
class Binding:
    role: str
    members: frozenset[str]
    condition: tuple[str, str, str] | None = None  # (title, description, expression)


@dataclass(frozen=True)
class Policy:
    bindings: tuple[Binding, ...]
    etag: str = ""
    version: int = 1


class IamTargetKind(enum.StrEnum):
    CLOUD_RUN_SERVICE = "CloudRunService"  # the service's own policy (run.invoker)
    IAP_BACKEND_SERVICE = "IapBackendService"  # iap_web/compute[-region]/services/{id}
    IAP_CLOUD_RUN = "IapCloudRun"  # iap_web/cloud_run-{region}/services/{name}


@dataclass(frozen=True)
class IamTarget:
    kind: IamTargetKind
    project: str  # project id for Cloud Run, project number for IAP resources
    name: str  # service name or backend service id
    region: str | None = None

    def __str__(self) -> str:
        if self.kind is IamTargetKind.CLOUD_RUN_SERVICE:
            return f"projects/{self.project}/locations/{self.region}/services/{self.name}"
        if self.kind is IamTargetKind.IAP_CLOUD_RUN:
            return f"projects/{self.project}/iap_web/cloud_run-{self.region}/services/{self.name}"
        where = f"compute-{self.region}" if self.region else "compute"
        return f"projects/{self.project}/iap_web/{where}/services/{self.name}"
