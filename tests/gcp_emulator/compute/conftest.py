"""Compute tests: the emulator in a thread, driven by google-cloud-compute's REST clients over real HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from tests.demo_project import PROJECT, REGION, SELF, demo_project
from tests.gcp_emulator.google_clients import rest_client

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

SEED: dict[str, Any] = {
    "projects": [
        demo_project(
            cloudRunServices=[
                {"name": "hello", "region": REGION},
                {"name": "direct", "region": REGION, "iapEnabled": True},
            ]
        ),
        {"projectId": "other-project", "projectNumber": "210987654321"},
    ]
}


@dataclass
class Compute:
    """One REST client per compute resource, all pointed at the emulator."""

    backend_services: compute_v1.BackendServicesClient
    region_backend_services: compute_v1.RegionBackendServicesClient
    negs: compute_v1.RegionNetworkEndpointGroupsClient
    url_maps: compute_v1.UrlMapsClient
    https_proxies: compute_v1.TargetHttpsProxiesClient
    http_proxies: compute_v1.TargetHttpProxiesClient
    certificates: compute_v1.SslCertificatesClient
    addresses: compute_v1.GlobalAddressesClient
    forwarding_rules: compute_v1.GlobalForwardingRulesClient
    global_operations: compute_v1.GlobalOperationsClient
    region_operations: compute_v1.RegionOperationsClient

    def wait(self, op: compute_v1.Operation) -> compute_v1.Operation:
        """Wait for an operation through the operations API (regional when the operation is)."""
        if op.region:
            region = op.region.rsplit("/", 1)[-1]
            return self.region_operations.wait(project=PROJECT, region=region, operation=op.name)
        return self.global_operations.wait(project=PROJECT, operation=op.name)

    # A ready-made load-balancer chain, one call per resource.

    def neg(self, name: str = "neg-hello", service: str = "hello") -> compute_v1.NetworkEndpointGroup:
        resource = compute_v1.NetworkEndpointGroup(
            name=name,
            network_endpoint_type="SERVERLESS",
            cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service=service),
        )
        self.wait(
            self.negs.insert_unary(project=PROJECT, region=REGION, network_endpoint_group_resource=resource)
        )
        return self.negs.get(project=PROJECT, region=REGION, network_endpoint_group=name)

    def backend_service(
        self, name: str = "bs-hello", neg: str = "neg-hello", **fields: Any
    ) -> compute_v1.BackendService:
        resource = compute_v1.BackendService(
            name=name,
            load_balancing_scheme="EXTERNAL_MANAGED",
            backends=[compute_v1.Backend(group=f"{SELF}/regions/{REGION}/networkEndpointGroups/{neg}")],
            **fields,
        )
        self.wait(self.backend_services.insert_unary(project=PROJECT, backend_service_resource=resource))
        return self.backend_services.get(project=PROJECT, backend_service=name)

    def url_map(self, name: str = "um-hello", service: str = "bs-hello") -> compute_v1.UrlMap:
        resource = compute_v1.UrlMap(name=name, default_service=f"{SELF}/global/backendServices/{service}")
        self.wait(self.url_maps.insert_unary(project=PROJECT, url_map_resource=resource))
        return self.url_maps.get(project=PROJECT, url_map=name)

    def managed_certificate(
        self, name: str = "cert-hello", domain: str = "hello.example.com"
    ) -> compute_v1.SslCertificate:
        resource = compute_v1.SslCertificate(
            name=name,
            type_="MANAGED",
            managed=compute_v1.SslCertificateManagedSslCertificate(domains=[domain]),
        )
        self.wait(self.certificates.insert_unary(project=PROJECT, ssl_certificate_resource=resource))
        return self.certificates.get(project=PROJECT, ssl_certificate=name)

    def https_proxy(
        self, name: str = "px-hello", url_map: str = "um-hello", cert: str = "cert-hello"
    ) -> compute_v1.TargetHttpsProxy:
        resource = compute_v1.TargetHttpsProxy(
            name=name,
            url_map=f"{SELF}/global/urlMaps/{url_map}",
            ssl_certificates=[f"{SELF}/global/sslCertificates/{cert}"],
        )
        self.wait(self.https_proxies.insert_unary(project=PROJECT, target_https_proxy_resource=resource))
        return self.https_proxies.get(project=PROJECT, target_https_proxy=name)

    def address(self, name: str = "ip-hello", **fields: Any) -> compute_v1.Address:
        self.wait(
            self.addresses.insert_unary(
                project=PROJECT, address_resource=compute_v1.Address(name=name, **fields)
            )
        )
        return self.addresses.get(project=PROJECT, address=name)

    def forwarding_rule(
        self,
        name: str = "fr-hello",
        target: str = "targetHttpsProxies/px-hello",
        ip: str | None = None,
        **fields: Any,
    ) -> compute_v1.ForwardingRule:
        resource = compute_v1.ForwardingRule(
            name=name,
            target=f"{SELF}/global/{target}",
            **({"I_p_address": ip} if ip else {}),
            **{"port_range": "443", "load_balancing_scheme": "EXTERNAL_MANAGED", **fields},
        )
        self.wait(self.forwarding_rules.insert_unary(project=PROJECT, forwarding_rule_resource=resource))
        return self.forwarding_rules.get(project=PROJECT, forwarding_rule=name)

    def chain(self) -> None:
        """NEG -> backend service -> URL map -> certificate -> HTTPS proxy -> address -> forwarding rule."""
        self.neg()
        self.backend_service()
        self.url_map()
        self.managed_certificate()
        self.https_proxy()
        ip = self.address().address
        self.forwarding_rule(ip=ip)


def reason_of(error: exceptions.GoogleAPICallError) -> str:
    """compute's `errors[0].reason` (notFound, alreadyExists, conditionNotMet, ...)."""
    return str(error.errors[0]["reason"])


@pytest.fixture
def seed() -> dict[str, Any]:
    return SEED


@pytest.fixture
def compute(emulator: GcpEmulatorThread) -> Compute:
    return Compute(
        backend_services=rest_client(compute_v1.BackendServicesClient, emulator),
        region_backend_services=rest_client(compute_v1.RegionBackendServicesClient, emulator),
        negs=rest_client(compute_v1.RegionNetworkEndpointGroupsClient, emulator),
        url_maps=rest_client(compute_v1.UrlMapsClient, emulator),
        https_proxies=rest_client(compute_v1.TargetHttpsProxiesClient, emulator),
        http_proxies=rest_client(compute_v1.TargetHttpProxiesClient, emulator),
        certificates=rest_client(compute_v1.SslCertificatesClient, emulator),
        addresses=rest_client(compute_v1.GlobalAddressesClient, emulator),
        forwarding_rules=rest_client(compute_v1.GlobalForwardingRulesClient, emulator),
        global_operations=rest_client(compute_v1.GlobalOperationsClient, emulator),
        region_operations=rest_client(compute_v1.RegionOperationsClient, emulator),
    )
