"""The GCP adapters against the project's GCP emulator: real HTTP on 127.0.0.1, real Google clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.demo_project import PROJECT, REGION, demo_project

from iap_operator.engine.identity import Owner, Ownership
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import (
    Address,
    BackendService,
    ForwardingRule,
    IapSettings,
    Key,
    Kind,
    Marks,
    Neg,
    SslCertificate,
    TargetHttpProxy,
    TargetHttpsProxy,
    UrlMap,
)
from iap_operator.gcp.cloud import build_cloud
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_sandbox.emulators.gcp.testing import EmulatorHandle, run_gcp_emulator

RUN_SERVICE = "hello"

SEED: dict[str, Any] = {
    "projects": [demo_project(cloudRunServices=[{"name": RUN_SERVICE, "region": REGION}])]
}

OWNER = Ownership.fresh(Owner(cluster="default", namespace="team-a", name="hello"))
MARKS: Marks = OWNER.marks()


@dataclass
class CallLog:
    """What the `on_call` metrics hook received."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, service: str, method: str, code: str) -> None:
        self.calls.append((service, method, code))


@dataclass(frozen=True)
class Chain:
    """One desired load-balancer chain, each resource referencing the previous ones by relative path."""

    neg: Neg
    backend: BackendService
    url_map: UrlMap
    redirect_map: UrlMap
    certificate: SslCertificate
    https_proxy: TargetHttpsProxy
    http_proxy: TargetHttpProxy
    address: Address
    rule: ForwardingRule

    def path(self, spec: Any) -> str:
        return str(spec.key.path(PROJECT))


def chain(suffix: str = "a") -> Chain:
    neg = Neg(Key(Kind.NEG, f"neg-{suffix}", REGION), RUN_SERVICE)
    backend = BackendService(
        Key(Kind.BACKEND_SERVICE, f"bs-{suffix}"),
        backends=(neg.key.path(PROJECT),),
        iap=IapSettings(enabled=True),
    )
    url_map = UrlMap(Key(Kind.URL_MAP, f"um-{suffix}"), default_service=backend.key.path(PROJECT))
    redirect_map = UrlMap(Key(Kind.URL_MAP, f"redirect-{suffix}"), https_redirect=True)
    certificate = SslCertificate(Key(Kind.SSL_CERTIFICATE, f"cert-{suffix}"), ("hello.example.com",))
    https_proxy = TargetHttpsProxy(
        Key(Kind.TARGET_HTTPS_PROXY, f"https-{suffix}"),
        url_map.key.path(PROJECT),
        (certificate.key.path(PROJECT),),
    )
    http_proxy = TargetHttpProxy(
        Key(Kind.TARGET_HTTP_PROXY, f"http-{suffix}"), redirect_map.key.path(PROJECT)
    )
    address = Address(Key(Kind.ADDRESS, f"ip-{suffix}"))
    rule = ForwardingRule(
        Key(Kind.FORWARDING_RULE, f"fr-{suffix}"),
        target=https_proxy.key.path(PROJECT),
        ip_address=address.key.path(PROJECT),
        port_range="443",
    )
    return Chain(neg, backend, url_map, redirect_map, certificate, https_proxy, http_proxy, address, rule)


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorHandle]:
    async with run_gcp_emulator(seed=SEED) as emu:
        yield emu


@pytest.fixture
async def executor() -> AsyncIterator[ThreadPoolExecutor]:
    """The adapters' thread pool. Shut down while the loop still runs: the emulator (served by this loop)
    must answer the calls still in flight, so the fixture is async and is set up after `emulator`."""
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="gcp-test")
    yield pool
    await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


@pytest.fixture
def call_log() -> CallLog:
    return CallLog()


def make_cloud(emu: EmulatorHandle, executor: ThreadPoolExecutor, call_log: CallLog | None = None) -> Cloud:
    config = GcpConfig(
        endpoints=dict.fromkeys(SERVICES, emu.url),
        anonymous=True,
        timeout=10.0,
        operation_timeout=20.0,
        on_call=call_log or CallLog(),
    )
    return build_cloud(config, executor)


@pytest.fixture
def cloud(emulator: EmulatorHandle, executor: ThreadPoolExecutor, call_log: CallLog) -> Cloud:
    # `emulator` before `executor`: the pool is shut down first, while the emulator still serves.
    return make_cloud(emulator, executor, call_log)


def requests_to(emu: EmulatorHandle, method: str, path_end: str) -> list[dict[str, Any]]:
    """Request-log records of `method` whose path ends with `path_end`."""
    return [r for r in emu.requests() if r["method"] == method and r["path"].endswith(path_end)]


def compute_path(spec: Any) -> str:
    """The emulator's store path of a compute resource."""
    return f"compute/v1/{spec.key.path(PROJECT)}"
