"""IapLoadBalancer v1alpha1 (group iap-operator.dev): a shared balancer many IapProtectedServices attach to.

Mirrors crds/iap-operator.dev_iaploadbalancers.yaml (schema and CEL rules, except the transition rules,
which need the previous object). Design: docs/shared-balancer.md.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StrictBool, StringConstraints, field_validator, model_validator

from iap_operator.api import patterns
from iap_operator.api.v1alpha1 import (
    ComputeName,
    Condition,
    DeletionPolicy,
    LoadBalancingScheme,
    ProjectId,
    _no_duplicates,
    _SpecModel,
    _StatusModel,
)

KIND = "IapLoadBalancer"
PLURAL = "iaploadbalancers"

AdmittedDomain = Annotated[
    str, StringConstraints(strict=True, pattern=patterns.DOMAIN_PATTERN, max_length=patterns.DOMAIN_MAX)
]
LabelValue = Annotated[str, StringConstraints(strict=True, max_length=patterns.LABEL_VALUE_MAX)]


class FromNamespaces(StrEnum):
    ALL = "All"
    SAME = "Same"
    SELECTOR = "Selector"


class NamespaceSelector(_SpecModel):
    match_labels: dict[str, LabelValue] = Field(min_length=1, max_length=patterns.MATCH_LABELS_MAX)


class AllowedNamespaces(_SpecModel):
    from_: FromNamespaces = Field(default=FromNamespaces.SAME, alias="from")
    selector: NamespaceSelector | None = None

    @model_validator(mode="after")
    def _selector_with_selector(self) -> AllowedNamespaces:
        if (self.from_ is FromNamespaces.SELECTOR) != (self.selector is not None):
            raise ValueError("selector is required when from is Selector, and only then")
        return self


class AllowedServices(_SpecModel):
    namespaces: AllowedNamespaces = AllowedNamespaces()


class IapLoadBalancerSpec(_SpecModel):
    """spec of an IapLoadBalancer, with the CRD's defaults."""

    project_id: ProjectId | None = None
    domains: list[AdmittedDomain] = Field(default_factory=list, max_length=patterns.DOMAINS_MAX)
    ssl_certificates: list[ComputeName] = Field(
        default_factory=list, min_length=1, max_length=patterns.SSL_CERTIFICATES_MAX
    )
    address: ComputeName | None = None
    https_redirect: StrictBool = True
    load_balancing_scheme: LoadBalancingScheme = LoadBalancingScheme.EXTERNAL
    allowed_services: AllowedServices = AllowedServices()
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE

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

    def admits_host(self, host: str) -> bool:
        """An exact domain, or a `*.` one-label wildcard (a Gateway listener's hostname); none: any host."""
        if not self.domains:
            return True
        for domain in self.domains:
            if domain == host:
                return True
            if domain.startswith("*.") and "." in host and host.split(".", 1)[1] == domain[2:]:
                return True
        return False


def parse_balancer_spec(spec: Mapping[str, Any]) -> IapLoadBalancerSpec:
    """The spec of a stored IapLoadBalancer (camelCase keys); raises pydantic.ValidationError."""
    return IapLoadBalancerSpec.model_validate(dict(spec), by_alias=True, by_name=False)


class AttachedService(_StatusModel):
    namespace: str
    name: str
    hosts: tuple[str, ...] = ()


class IapLoadBalancerStatus(_StatusModel):
    """status of an IapLoadBalancer (model_dump(by_alias=True, exclude_none=True, mode="json"))."""

    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    ip_address: str | None = None
    url_map: str | None = None
    owner: str | None = None
    attached_count: int | None = None
    attached: tuple[AttachedService, ...] = ()
    certificates: tuple[str, ...] = ()
    last_sync_time: datetime.datetime | None = None
