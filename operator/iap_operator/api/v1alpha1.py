"""IapProtectedService v1alpha1 (group iap-operator.dev): the spec the operator acts on, the status it writes.

Mirrors crds/iap-operator.dev_iapprotectedservices.yaml: every schema rule and CEL rule of the CRD,
except the transition (immutability) rules, which need the previous object. Field names are snake_case
with the CRD's camelCase as aliases.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from iap_operator.api import patterns
from iap_operator.api.durations import parse_duration

# --- enumerations ----------------------------------------------------------------------------------------


class Mode(StrEnum):
    LOAD_BALANCER = "LoadBalancer"
    DIRECT = "Direct"


class Invoker(StrEnum):
    IAP_SERVICE_AGENT = "IapServiceAgent"
    ALL_USERS = "AllUsers"


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    ABANDON = "Abandon"


class LoadBalancingScheme(StrEnum):
    EXTERNAL = "EXTERNAL"
    EXTERNAL_MANAGED = "EXTERNAL_MANAGED"


class ReauthMethod(StrEnum):
    LOGIN = "LOGIN"
    SECURE_KEY = "SECURE_KEY"
    ENROLLED_SECOND_FACTORS = "ENROLLED_SECOND_FACTORS"


class ReauthPolicyType(StrEnum):
    MINIMUM = "MINIMUM"
    DEFAULT = "DEFAULT"


class OutputCredential(StrEnum):
    HEADER = "HEADER"
    JWT = "JWT"
    RCTOKEN = "RCTOKEN"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


# --- value types (the CRD's patterns and lengths) --------------------------------------------------------

ProjectId = Annotated[str, StringConstraints(strict=True, pattern=patterns.PROJECT_ID)]
CloudRunServiceName = Annotated[
    str,
    StringConstraints(
        strict=True, pattern=patterns.CLOUD_RUN_SERVICE, max_length=patterns.CLOUD_RUN_SERVICE_MAX
    ),
]
Region = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.REGION, max_length=patterns.REGION_MAX)
]
ComputeName = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.RFC1035_NAME, max_length=patterns.RFC1035_NAME_MAX)
]
Domain = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.DOMAIN, max_length=patterns.DOMAIN_MAX)
]
SecretName = Annotated[
    str,
    StringConstraints(
        strict=True, pattern=patterns.DNS1123_SUBDOMAIN, max_length=patterns.DNS1123_SUBDOMAIN_MAX
    ),
]
SecretKey = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.SECRET_KEY, max_length=patterns.SECRET_KEY_MAX)
]
Member = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.MEMBER, max_length=patterns.MEMBER_MAX)
]
GoDuration = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.GO_DURATION, max_length=patterns.GO_DURATION_MAX)
]


ProtoDuration = Annotated[
    str,
    StringConstraints(strict=True, pattern=patterns.PROTO_DURATION, max_length=patterns.PROTO_DURATION_MAX),
]
OAuthClientId = Annotated[
    str,
    StringConstraints(strict=True, pattern=patterns.OAUTH_CLIENT_ID, max_length=patterns.OAUTH_CLIENT_ID_MAX),
]
HttpsUri = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.HTTPS_URI, max_length=patterns.URI_MAX)
]


def _no_duplicates(values: list[str] | tuple[str, ...], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value!r}")
        seen.add(value)


# --- spec ------------------------------------------------------------------------------------------------


class _SpecModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        """The API server drops nulls of non-nullable fields (then applies defaults): so does the model."""
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None}
        return data


class CloudRunRef(_SpecModel):
    """The Cloud Run service to protect: in one region, or the same service in several (`regions`)."""

    service: CloudRunServiceName
    region: Region | None = None
    regions: list[Region] | None = Field(default=None, min_length=1, max_length=patterns.REGIONS_MAX)

    @field_validator("regions")
    @classmethod
    def _unique_regions(cls, value: list[str] | None) -> list[str] | None:
        _no_duplicates(value or [], "region")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> CloudRunRef:
        if (self.region is None) == (self.regions is None):
            raise ValueError("set exactly one of cloudRun.region or cloudRun.regions")
        return self

    @property
    def regions_in_order(self) -> tuple[str, ...]:
        """Every region the service runs in; the first is where the claim is held."""
        return tuple(self.regions) if self.regions is not None else (self.region or "",)

    @property
    def primary_region(self) -> str:
        """`region`, or the first of `regions`: where the claim on the Cloud Run service is held."""
        return self.regions_in_order[0]


class BackendServiceRef(_SpecModel):
    """An existing backend service to enable IAP on (global unless region is set)."""

    name: ComputeName
    region: Region | None = None


Namespace = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.NAMESPACE, max_length=patterns.NAMESPACE_MAX)
]
PathPrefix = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.PATH_PREFIX, max_length=patterns.PATH_PREFIX_MAX)
]


class SharedRef(_SpecModel):
    """An IapLoadBalancer to attach to (docs/shared-balancer.md)."""

    name: ComputeName
    namespace: Namespace | None = None  # default: the service's own namespace


class LoadBalancerSpec(_SpecModel):
    """Exactly one of backend_service, domains or shared_ref; the other fields only apply with domains
    (ssl_certificates, address, https_redirect, load_balancing_scheme) or shared_ref (host, path_prefixes)."""

    backend_service: BackendServiceRef | None = None
    shared_ref: SharedRef | None = None
    host: Domain | None = None
    path_prefixes: list[PathPrefix] = Field(
        default_factory=list, min_length=1, max_length=patterns.PATH_PREFIXES_MAX
    )
    domains: list[Domain] = Field(default_factory=list, min_length=1, max_length=patterns.DOMAINS_MAX)
    ssl_certificates: list[ComputeName] = Field(
        default_factory=list, min_length=1, max_length=patterns.SSL_CERTIFICATES_MAX
    )
    address: ComputeName | None = None
    https_redirect: StrictBool = True
    load_balancing_scheme: LoadBalancingScheme = LoadBalancingScheme.EXTERNAL

    @field_validator("domains")
    @classmethod
    def _unique_domains(cls, value: list[str]) -> list[str]:
        _no_duplicates(value, "domain")
        return value

    @field_validator("ssl_certificates")
    @classmethod
    def _unique_certificates(cls, value: list[str]) -> list[str]:
        _no_duplicates(value, "SSL certificate")
        return value

    @field_validator("path_prefixes")
    @classmethod
    def _unique_prefixes(cls, value: list[str]) -> list[str]:
        _no_duplicates(value, "path prefix")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> LoadBalancerSpec:
        if self.backend_service is not None and self.domains:
            raise ValueError("set only one of backendService or domains, not both")
        if self.backend_service is None and not self.domains and self.shared_ref is None:
            raise ValueError("set one of backendService, domains or sharedRef")
        if self.shared_ref is not None and (self.backend_service is not None or self.domains):
            raise ValueError("set sharedRef alone, not with domains or backendService")
        if (self.shared_ref is None) != (self.host is None):
            raise ValueError("host is required with sharedRef, and only applies with it")
        if self.path_prefixes and self.shared_ref is None:
            raise ValueError("pathPrefixes only applies with sharedRef")
        if not self.domains:
            given = self.model_fields_set & {
                "ssl_certificates",
                "address",
                "https_redirect",
                "load_balancing_scheme",
            }
            if given:
                names = ", ".join(sorted(to_camel(name) for name in given))
                raise ValueError(f"{names} only applies with domains (a load balancer the operator builds)")
        return self


class SecretRef(_SpecModel):
    """A Secret in the resource's namespace with the OAuth client id and secret."""

    name: SecretName
    client_id_key: SecretKey = "client_id"
    client_secret_key: SecretKey = "client_secret"  # noqa: S105 - a key name, not a secret


class OAuthClient(_SpecModel):
    """A custom OAuth client (omitted: the Google-managed one)."""

    secret_ref: SecretRef


class IamCondition(_SpecModel):
    """An IAM condition on the access binding."""

    title: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=patterns.CONDITION_TITLE_MAX)
    ]
    description: (
        Annotated[str, StringConstraints(strict=True, max_length=patterns.CONDITION_DESCRIPTION_MAX)] | None
    ) = None
    expression: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=patterns.CONDITION_EXPRESSION_MAX)
    ]


class Access(_SpecModel):
    """Who may pass IAP."""

    members: tuple[Member, ...] = Field(default=(), max_length=patterns.MEMBERS_MAX)
    condition: IamCondition | None = None

    @field_validator("members")
    @classmethod
    def _unique_members(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _no_duplicates(value, "member")
        return value


# --- IAP settings (IAP v1 `iapSettings`, the same field names) --------------------------------------------


class CorsSettings(_SpecModel):
    allow_http_options: StrictBool


class ReauthSettings(_SpecModel):
    """Google: "All IAP reauth settings must always be set together" (one field-mask path)."""

    method: ReauthMethod
    max_age: ProtoDuration
    policy_type: ReauthPolicyType


class AllowedDomainsSettings(_SpecModel):
    enable: StrictBool = True
    domains: tuple[Domain, ...] | None = Field(default=None, max_length=patterns.ALLOWED_DOMAINS_MAX)

    @field_validator("domains")
    @classmethod
    def _unique(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        _no_duplicates(value or (), "domain")
        return value


class OAuthSettings(_SpecModel):
    login_hint: Domain | None = None
    programmatic_clients: tuple[OAuthClientId, ...] | None = Field(
        default=None, max_length=patterns.PROGRAMMATIC_CLIENTS_MAX
    )

    @field_validator("programmatic_clients")
    @classmethod
    def _unique(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        _no_duplicates(value or (), "programmatic client")
        return value


class AccessSettings(_SpecModel):
    cors_settings: CorsSettings | None = None
    reauth_settings: ReauthSettings | None = None
    allowed_domains_settings: AllowedDomainsSettings | None = None
    oauth_settings: OAuthSettings | None = None


class AccessDeniedPageSettings(_SpecModel):
    access_denied_page_uri: HttpsUri | None = None
    generate_troubleshooting_uri: StrictBool | None = None
    remediation_token_generation_enabled: StrictBool | None = None


class AttributePropagationSettings(_SpecModel):
    enable: StrictBool = True
    expression: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=patterns.ATTRIBUTE_EXPRESSION_MAX)
    ]
    output_credentials: tuple[OutputCredential, ...] = Field(min_length=1, max_length=3)

    @field_validator("output_credentials")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _no_duplicates(value, "output credential")
        return value


class ApplicationSettings(_SpecModel):
    access_denied_page_settings: AccessDeniedPageSettings | None = None
    cookie_domain: Domain | None = None
    attribute_propagation_settings: AttributePropagationSettings | None = None


class IapSettingsSpec(_SpecModel):
    """IAP settings of the protected resource: only what is set here is managed (by field mask)."""

    access_settings: AccessSettings | None = None
    application_settings: ApplicationSettings | None = None

    def declared(self) -> dict[str, Any]:
        """The settings as the IAP API spells them (camelCase), only the fields the spec sets (and the
        defaults of the CRD, which the API server applies too)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class IapProtectedServiceSpec(_SpecModel):
    """spec of an IapProtectedService, with the CRD's defaults."""

    project_id: ProjectId | None = None
    mode: Mode = Mode.LOAD_BALANCER
    cloud_run: CloudRunRef
    load_balancer: LoadBalancerSpec | None = None
    oauth_client: OAuthClient | None = None
    iap_settings: IapSettingsSpec | None = None
    access: Access = Access()
    invoker: Invoker = Invoker.IAP_SERVICE_AGENT
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    resync_period: GoDuration = "10m"

    @field_validator("resync_period")
    @classmethod
    def _resync_at_least_a_minute(cls, value: str) -> str:
        if parse_duration(value) < patterns.RESYNC_PERIOD_MIN_SECONDS:
            raise ValueError("resyncPeriod must be at least 1m")
        return value

    @model_validator(mode="after")
    def _matches_mode(self) -> IapProtectedServiceSpec:
        if self.mode is Mode.DIRECT and self.load_balancer is not None:
            raise ValueError("loadBalancer must not be set when mode is Direct")
        if self.mode is Mode.LOAD_BALANCER and self.load_balancer is None:
            raise ValueError("loadBalancer is required when mode is LoadBalancer")
        if self.mode is Mode.DIRECT and self.oauth_client is not None:
            raise ValueError("oauthClient is not supported with mode Direct yet")
        if self.mode is Mode.DIRECT and self.cloud_run.regions is not None:
            raise ValueError("cloudRun.regions needs mode LoadBalancer")
        return self

    @property
    def resync_seconds(self) -> float:
        """resyncPeriod in seconds."""
        return parse_duration(self.resync_period)


def parse_spec(spec: Mapping[str, Any]) -> IapProtectedServiceSpec:
    """The spec of a stored object (camelCase keys, as in the CRD); raises pydantic.ValidationError."""
    return IapProtectedServiceSpec.model_validate(dict(spec), by_alias=True, by_name=False)


# --- status ----------------------------------------------------------------------------------------------


class _StatusModel(BaseModel):
    """Status is the operator's own output: read it leniently (unknown fields are ignored)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class Condition(_StatusModel):
    type: str
    status: ConditionStatus
    reason: str | None = None
    message: str | None = None
    observed_generation: int | None = None
    last_transition_time: datetime.datetime | None = None


class BackendServiceStatus(_StatusModel):
    name: str
    id: str | None = None
    region: str | None = None


class ResourceStatus(_StatusModel):
    kind: str
    name: str
    scope: str = "global"  # "global" or a region name
    created: bool = False  # True: created (and deleted) by the operator; False: adopted or referenced


class GrantedCondition(_StatusModel):
    title: str
    description: str | None = None
    expression: str


class GrantsStatus(_StatusModel):
    """IAM bindings the operator made, so later passes and teardown remove only their own."""

    invoker: tuple[str, ...] = ()
    access: tuple[str, ...] = ()
    access_condition: GrantedCondition | None = None


class IapProtectedServiceStatus(_StatusModel):
    """status of an IapProtectedService.

    Serialize with model_dump(by_alias=True, exclude_none=True, mode="json").
    """

    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    url: str | None = None
    ip_address: str | None = None
    shared_load_balancer: str | None = None  # namespace/name of the IapLoadBalancer attached to
    backend_service: BackendServiceStatus | None = None
    jwt_audience: str | None = None
    service_agent: str | None = None
    owner: str | None = None  # cluster/namespace/name in the claims and marks on GCP (docs/ownership.md)
    resources: tuple[ResourceStatus, ...] = ()
    grants: GrantsStatus | None = None
    last_sync_time: datetime.datetime | None = None

    @field_validator("conditions")
    @classmethod
    def _one_condition_per_type(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        _no_duplicates([condition.type for condition in value], "condition type")
        return value
