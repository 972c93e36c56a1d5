"""Desired state: from a parsed spec and the resource's identity to the GCP resources it needs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from iap_operator.api import IapProtectedServiceSpec, LoadBalancingScheme
from iap_operator.engine.resources import (
    Address,
    BackendService,
    ForwardingRule,
    IapSettings,
    Key,
    Kind,
    Neg,
    SslCertificate,
    TargetHttpProxy,
    TargetHttpsProxy,
    UrlMap,
)

INVOKER_ROLE = "roles/run.invoker"
ACCESSOR_ROLE = "roles/iap.httpsResourceAccessor"
INGRESS_LB = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
IAP_SERVICE = "iap.googleapis.com"


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str = field(default="", repr=False)  # never logged, never in status or Events

    @property
    def secret_sha256(self) -> str:
        return hashlib.sha256(self.client_secret.encode()).hexdigest()


@dataclass(frozen=True)
class Balancer:
    """The load balancer the operator builds for `loadBalancer.domains`."""

    negs: tuple[Neg, ...]  # one serverless NEG per Cloud Run region
    backend_service: BackendService
    url_map: UrlMap
    certificate: SslCertificate | None  # None when existing certificates are named
    https_proxy: TargetHttpsProxy
    address: Address | None  # None when an existing address is named
    address_key: Key
    https_rule: ForwardingRule
    redirect_map: UrlMap | None
    http_proxy: TargetHttpProxy | None
    http_rule: ForwardingRule | None


def iap_settings(oauth: OAuthClient | None) -> IapSettings:
    if oauth is None:
        return IapSettings(enabled=True)
    return IapSettings(
        enabled=True,
        client_id=oauth.client_id,
        client_secret_sha256=oauth.secret_sha256,
        client_secret=oauth.client_secret,
    )


def balancer(
    spec: IapProtectedServiceSpec, project: str, names: Callable[[str], str], oauth: OAuthClient | None
) -> Balancer:
    """The whole balancer for `loadBalancer.domains`, named deterministically by `names(suffix)`."""
    lb = spec.load_balancer
    assert lb is not None, "balancer() needs loadBalancer"
    assert lb.domains, "balancer() needs loadBalancer.domains"
    scheme = str(lb.load_balancing_scheme or LoadBalancingScheme.EXTERNAL)
    domains = tuple(lb.domains)

    # A NEG's name is unique within its region: every region's NEG has the same name.
    negs = tuple(
        Neg(Key(Kind.NEG, names("neg"), region), cloud_run_service=spec.cloud_run.service)
        for region in spec.cloud_run.regions_in_order
    )
    backend = BackendService(
        Key(Kind.BACKEND_SERVICE, names("bs")),
        scheme=scheme,
        protocol="HTTPS",
        backends=tuple(sorted(neg.key.path(project) for neg in negs)),
        iap=iap_settings(oauth),
    )
    url_map = UrlMap(Key(Kind.URL_MAP, names("um")), default_service=backend.key.path(project))
    certificate = None
    if lb.ssl_certificates:
        certs = tuple(Key(Kind.SSL_CERTIFICATE, c).path(project) for c in lb.ssl_certificates)
    else:
        digest = hashlib.sha256(",".join(domains).encode()).hexdigest()[:6]
        certificate = SslCertificate(Key(Kind.SSL_CERTIFICATE, names(f"cert-{digest}")), domains=domains)
        certs = (certificate.key.path(project),)
    https_proxy = TargetHttpsProxy(
        Key(Kind.TARGET_HTTPS_PROXY, names("https")),
        url_map=url_map.key.path(project),
        ssl_certificates=certs,
    )
    address = None if lb.address else Address(Key(Kind.ADDRESS, names("ip")))
    address_key = address.key if address else Key(Kind.ADDRESS, lb.address or "")
    https_rule = ForwardingRule(
        Key(Kind.FORWARDING_RULE, names("fr-https")),
        target=https_proxy.key.path(project),
        ip_address=address_key.path(project),
        port_range="443",
        scheme=scheme,
    )
    redirect_map = http_proxy = http_rule = None
    if lb.https_redirect:
        redirect_map = UrlMap(Key(Kind.URL_MAP, names("um-redirect")), https_redirect=True)
        http_proxy = TargetHttpProxy(
            Key(Kind.TARGET_HTTP_PROXY, names("http")), url_map=redirect_map.key.path(project)
        )
        http_rule = ForwardingRule(
            Key(Kind.FORWARDING_RULE, names("fr-http")),
            target=http_proxy.key.path(project),
            ip_address=address_key.path(project),
            port_range="80",
            scheme=scheme,
        )
    return Balancer(
        negs=negs,
        backend_service=backend,
        url_map=url_map,
        certificate=certificate,
        https_proxy=https_proxy,
        address=address,
        address_key=address_key,
        https_rule=https_rule,
        redirect_map=redirect_map,
        http_proxy=http_proxy,
        http_rule=http_rule,
    )
