"""The Google API clients, built once per process from a `GcpConfig` and shared (REST clients: thread-safe).

Service Usage has no Cloud Client Library; it goes through the discovery client, whose httplib2 transport
is not thread-safe: `ServiceUsage.http()` gives each call a connection of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import google.auth
import google_auth_httplib2
import httplib2  # type: ignore[import-untyped]
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import compute_v1, iap_v1, resourcemanager_v3, run_v2
from googleapiclient import discovery

from iap_operator.gcp.config import GcpConfig

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def credentials_for(config: GcpConfig) -> Credentials:
    if config.anonymous:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    return credentials


@dataclass(frozen=True)
class ServiceUsage:
    """The discovery-based Service Usage v1beta1 client and a factory of per-call HTTP connections."""

    api: Any
    credentials: Credentials
    timeout: float

    def http(self) -> google_auth_httplib2.AuthorizedHttp:
        return google_auth_httplib2.AuthorizedHttp(
            self.credentials, http=httplib2.Http(timeout=int(self.timeout))
        )


@dataclass(frozen=True)
class ComputeClients:
    global_operations: compute_v1.GlobalOperationsClient
    region_operations: compute_v1.RegionOperationsClient
    region_negs: compute_v1.RegionNetworkEndpointGroupsClient
    backend_services: compute_v1.BackendServicesClient
    region_backend_services: compute_v1.RegionBackendServicesClient
    url_maps: compute_v1.UrlMapsClient
    ssl_certificates: compute_v1.SslCertificatesClient
    https_proxies: compute_v1.TargetHttpsProxiesClient
    http_proxies: compute_v1.TargetHttpProxiesClient
    addresses: compute_v1.GlobalAddressesClient
    forwarding_rules: compute_v1.GlobalForwardingRulesClient


@dataclass(frozen=True)
class Clients:
    compute: ComputeClients
    run: run_v2.ServicesClient
    iap: iap_v1.IdentityAwareProxyAdminServiceClient
    projects: resourcemanager_v3.ProjectsClient
    service_usage: ServiceUsage

    @classmethod
    def build(cls, config: GcpConfig) -> Clients:
        credentials = credentials_for(config)

        def make(client_class: Any, service: str, **extra: Any) -> Any:
            endpoint = config.endpoint(service)
            options = ClientOptions(api_endpoint=endpoint) if endpoint else None
            return client_class(credentials=credentials, client_options=options, transport="rest", **extra)

        compute = ComputeClients(
            global_operations=make(compute_v1.GlobalOperationsClient, "compute"),
            region_operations=make(compute_v1.RegionOperationsClient, "compute"),
            region_negs=make(compute_v1.RegionNetworkEndpointGroupsClient, "compute"),
            backend_services=make(compute_v1.BackendServicesClient, "compute"),
            region_backend_services=make(compute_v1.RegionBackendServicesClient, "compute"),
            url_maps=make(compute_v1.UrlMapsClient, "compute"),
            ssl_certificates=make(compute_v1.SslCertificatesClient, "compute"),
            https_proxies=make(compute_v1.TargetHttpsProxiesClient, "compute"),
            http_proxies=make(compute_v1.TargetHttpProxiesClient, "compute"),
            addresses=make(compute_v1.GlobalAddressesClient, "compute"),
            forwarding_rules=make(compute_v1.GlobalForwardingRulesClient, "compute"),
        )
        return cls(
            compute=compute,
            run=make(run_v2.ServicesClient, "run"),
            iap=make(iap_v1.IdentityAwareProxyAdminServiceClient, "iap"),
            projects=make(resourcemanager_v3.ProjectsClient, "cloudresourcemanager"),
            service_usage=_service_usage(config, credentials),
        )


def authorized_http(credentials: Credentials, timeout: float) -> google_auth_httplib2.AuthorizedHttp:
    return google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))


def _service_usage(config: GcpConfig, credentials: Credentials) -> ServiceUsage:
    endpoint = config.endpoint("serviceusage")
    options = None
    if endpoint:
        base = endpoint if "://" in endpoint else f"https://{endpoint}"
        options = {"api_endpoint": base.rstrip("/") + "/"}
    api = discovery.build(
        "serviceusage",
        "v1beta1",
        http=authorized_http(credentials, config.timeout),
        static_discovery=True,
        client_options=options,
        cache_discovery=False,
    )
    return ServiceUsage(api=api, credentials=credentials, timeout=config.timeout)
