"""What attaching one IapProtectedService to an IapLoadBalancer means, decided before any cloud call.

Pure: from the balancer (its namespace and spec), the service (its identity, ownership and spec) and
the service namespace's labels, either a refusal (reason and message, no writes) or the `Attachment`
whose host rule and path matcher `host_rules` puts in the balancer's URL map. The attach topology
(NEG, backend service, IAP and grants, then the host rule) runs on top of this (docs/shared-balancer.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iap_operator.api.balancer_v1alpha1 import IapLoadBalancerSpec
from iap_operator.api.v1alpha1 import IapProtectedServiceSpec
from iap_operator.engine.attachments import Admission, From, admits
from iap_operator.engine.identity import Identity, Ownership
from iap_operator.engine.urlmap_rules import Attachment

NOT_ALLOWED = "NotAllowed"


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


@dataclass(frozen=True)
class BalancerRef:
    namespace: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def balancer_of(identity: Identity, spec: IapProtectedServiceSpec) -> BalancerRef | None:
    """The IapLoadBalancer a service names (sharedRef.namespace defaults to its own namespace)."""
    lb = spec.load_balancer
    if lb is None or lb.shared_ref is None:
        return None
    return BalancerRef(lb.shared_ref.namespace or identity.namespace, lb.shared_ref.name)


def admission_of(spec: IapLoadBalancerSpec) -> Admission:
    namespaces = spec.allowed_services.namespaces
    labels = namespaces.selector.match_labels if namespaces.selector else None
    return Admission(From(namespaces.from_.value), labels)


def plan_attachment(  # noqa: PLR0917 - one value per side of the attachment, named at every call
    balancer: BalancerRef,
    balancer_spec: IapLoadBalancerSpec,
    identity: Identity,
    ownership: Ownership,
    spec: IapProtectedServiceSpec,
    namespace_labels: Mapping[str, str],
    backend_service: str,
) -> Attachment | Refusal:
    """The service's share of the balancer's URL map, or why it may not attach."""
    lb = spec.load_balancer
    assert lb is not None, "plan_attachment needs loadBalancer.sharedRef"
    assert lb.host is not None, "the CRD requires host with sharedRef"
    rule = admission_of(balancer_spec)
    if not admits(rule, balancer.namespace, identity.namespace, namespace_labels):
        allowed = {
            From.SAME: f"only namespace {balancer.namespace!r}",
            From.ALL: "every namespace",
            From.SELECTOR: f"namespaces labelled {dict(rule.match_labels or {})}",
        }[rule.source]
        return Refusal(
            NOT_ALLOWED,
            f"IapLoadBalancer {balancer.ref} does not admit services from namespace "
            f"{identity.namespace!r} (its spec.allowedServices admits {allowed}): ask its owners, or "
            "use another balancer",
        )
    if not balancer_spec.admits_host(lb.host):
        return Refusal(
            NOT_ALLOWED,
            f"host {lb.host!r} is not one of IapLoadBalancer {balancer.ref}'s domains "
            f"({', '.join(balancer_spec.domains)})",
        )
    return Attachment(
        owner_id=ownership.owner.id,
        owner_text=ownership.owner.ref,
        matcher=ownership.resource_name("pm"),
        hosts=(lb.host,),
        service=backend_service,
        path_prefixes=tuple(lb.path_prefixes),
    )


def url_of(spec: IapProtectedServiceSpec) -> str | None:
    """status.url of an attached service: its host and first path prefix."""
    lb = spec.load_balancer
    if lb is None or lb.host is None:
        return None
    prefix = lb.path_prefixes[0] if lb.path_prefixes else "/"
    return f"https://{lb.host}{prefix}"
