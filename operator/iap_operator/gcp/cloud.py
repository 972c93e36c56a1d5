"""`build_cloud`: every engine port wired to its GCP adapter; one thread pool and one set of clients."""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor

from iap_operator.engine.ports import Cloud
from iap_operator.gcp.calls import Caller
from iap_operator.gcp.clients import Clients
from iap_operator.gcp.cloud_run import CloudRunAdapter
from iap_operator.gcp.compute.address import AddressAdapter
from iap_operator.gcp.compute.backend_service import BackendServiceAdapter
from iap_operator.gcp.compute.forwarding_rule import ForwardingRuleAdapter
from iap_operator.gcp.compute.inventory import ComputeInventory
from iap_operator.gcp.compute.neg import NegAdapter
from iap_operator.gcp.compute.operations import OperationWaiter
from iap_operator.gcp.compute.ssl_certificate import SslCertificateAdapter
from iap_operator.gcp.compute.target_http_proxy import TargetHttpProxyAdapter
from iap_operator.gcp.compute.target_https_proxy import TargetHttpsProxyAdapter
from iap_operator.gcp.compute.url_map import UrlMapAdapter
from iap_operator.gcp.config import GcpConfig
from iap_operator.gcp.iam import IamAdapter
from iap_operator.gcp.iap_settings import IapSettingsAdapter
from iap_operator.gcp.projects import ProjectsAdapter
from iap_operator.gcp.ratelimit import TokenBucket
from iap_operator.gcp.retries import RetryBudget
from iap_operator.gcp.service_identity import ServiceIdentityAdapter
from iap_operator.gcp.snapshots import Snapshots


def build_cloud(config: GcpConfig, executor: Executor | None = None) -> Cloud:
    """The adapters for `config`. Pass `executor` to own the thread pool's lifetime (tests); otherwise a
    pool of `config.max_workers` threads lives as long as the process."""
    pool = executor or ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="gcp")
    caller = Caller(
        pool,
        config.on_call,
        TokenBucket(config.qps, config.burst),
        policy=config.retry,
        budget=RetryBudget(ratio=config.retry_budget_ratio),
        may_write=config.may_write,
        on_retry=config.on_retry,
        on_refused=config.on_refused,
    )
    clients = Clients.build(config)
    compute = clients.compute
    timeout = config.timeout
    waiter = OperationWaiter(
        caller, compute.global_operations, compute.region_operations, config.operation_timeout
    )
    shared = Snapshots(config.observe_period)  # one per process: every resource of a project shares it
    addresses = AddressAdapter(caller, waiter, compute.addresses, timeout, snapshots=shared)
    url_maps = UrlMapAdapter(caller, waiter, compute.url_maps, timeout, snapshots=shared)
    return Cloud(
        projects=ProjectsAdapter(caller, clients.projects, timeout),
        identities=ServiceIdentityAdapter(caller, clients.service_usage, config.operation_timeout),
        cloud_run=CloudRunAdapter(caller, clients.run, timeout, config.operation_timeout, snapshots=shared),
        iam=IamAdapter(caller, clients.run, clients.iap, timeout),
        iap_settings=IapSettingsAdapter(caller, clients.iap, timeout),
        negs=NegAdapter(caller, waiter, None, timeout, regional=compute.region_negs, snapshots=shared),
        backend_services=BackendServiceAdapter(
            caller,
            waiter,
            compute.backend_services,
            timeout,
            regional=compute.region_backend_services,
            snapshots=shared,
        ),
        url_maps=url_maps,
        ssl_certificates=SslCertificateAdapter(
            caller, waiter, compute.ssl_certificates, timeout, snapshots=shared
        ),
        https_proxies=TargetHttpsProxyAdapter(
            caller, waiter, compute.https_proxies, timeout, snapshots=shared
        ),
        http_proxies=TargetHttpProxyAdapter(caller, waiter, compute.http_proxies, timeout, snapshots=shared),
        addresses=addresses,
        forwarding_rules=ForwardingRuleAdapter(
            caller, waiter, compute.forwarding_rules, timeout, addresses, snapshots=shared
        ),
        inventory=ComputeInventory(caller, compute, timeout),
        url_map_rules=url_maps,
    )
