"""Failures the engine must tell apart: in use, throttled (Retry-After), denied, slow, unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.ports import Cloud
from iap_operator.gcp.cloud import build_cloud
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_operator.gcp.retries import NO_RETRIES
from iap_sandbox.emulators.gcp.testing import EmulatorHandle, run_gcp_emulator

from .conftest import MARKS, PROJECT, SEED, CallLog, chain, make_cloud, requests_to
from .test_compute_lifecycle import create_through


async def test_delete_of_a_referenced_resource_is_in_use(cloud: Cloud, emulator: EmulatorHandle) -> None:
    resources = chain()
    await create_through(cloud, resources, "rule")

    for spec in (
        resources.neg,
        resources.backend,
        resources.url_map,
        resources.address,
        resources.https_proxy,
    ):
        with pytest.raises(CloudError) as caught:
            await cloud.compute(spec.key.kind).delete(PROJECT, spec.key)
        assert caught.value.fault is Fault.IN_USE, spec.key
        assert await cloud.compute(spec.key.kind).find(PROJECT, spec.key) is not None


def single_attempt(emu: EmulatorHandle, executor: ThreadPoolExecutor, timeout: float = 10.0) -> Cloud:
    """Adapters that never retry a call: what one answer is classified as."""
    config = GcpConfig(
        endpoints=dict.fromkeys(SERVICES, emu.url), anonymous=True, timeout=timeout, retry=NO_RETRIES
    )
    return build_cloud(config, executor)


async def test_a_throttle_longer_than_the_call_deadline_goes_to_the_pass_with_its_retry_after(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    neg = chain().neg
    rule = emulator.add_fault(method="POST", path=r"/networkEndpointGroups$", status=429, retry_after=60)

    with pytest.raises(CloudError) as caught:
        await cloud.negs.create(PROJECT, neg, MARKS)

    assert caught.value.fault is Fault.TRANSIENT
    assert caught.value.retry_after == 60.0
    assert len(requests_to(emulator, "POST", "/networkEndpointGroups")) == 1  # not waited out in the call
    emulator.world.faults.remove(rule)
    assert (await cloud.negs.create(PROJECT, neg, MARKS)).spec == neg


@pytest.mark.parametrize(
    ("status", "fault"),
    [(503, Fault.TRANSIENT), (500, Fault.TRANSIENT), (403, Fault.PERMISSION_DENIED), (400, Fault.INVALID)],
)
async def test_http_errors_of_a_read(
    emulator: EmulatorHandle, executor: ThreadPoolExecutor, status: int, fault: Fault
) -> None:
    neg = chain().neg
    emulator.add_fault(method="GET", path=r"/networkEndpointGroups/", status=status, count=1)

    with pytest.raises(CloudError) as caught:
        await single_attempt(emulator, executor).negs.find(PROJECT, neg.key)

    assert caught.value.fault is fault
    assert caught.value.retry_after is None


async def test_operations_are_waited_for_through_the_configured_endpoint(
    executor: ThreadPoolExecutor,
) -> None:
    async with run_gcp_emulator(seed=SEED, latency={("compute", "*", "*"): 0.2}) as emu:
        cloud = make_cloud(emu, executor)
        neg = chain().neg

        created = await cloud.negs.create(PROJECT, neg, MARKS)

        assert created.spec == neg
        waits = [r for r in emu.requests() if r["path"].endswith("/wait")]
        assert waits
        assert all("/regions/us-central1/operations/" in r["path"] for r in waits)


async def test_a_failed_operation_poll_is_retried(executor: ThreadPoolExecutor) -> None:
    async with run_gcp_emulator(seed=SEED, latency={("compute", "*", "*"): 0.2}) as emu:
        cloud = make_cloud(emu, executor)
        emu.add_fault(method="POST", path=r"/operations/[^/]+/wait$", status=503, retry_after=0, count=1)

        created = await cloud.negs.create(PROJECT, chain().neg, MARKS)  # answered RUNNING, as recorded

        assert created.spec.cloud_run_service == "hello"
        assert [r["status"] for r in requests_to(emu, "POST", "/wait")][:2] == [503, 200]
        assert len(requests_to(emu, "POST", "/networkEndpointGroups")) == 1  # the insert was not repeated


async def test_a_slow_answer_times_out_as_transient(executor: ThreadPoolExecutor) -> None:
    async with run_gcp_emulator(seed=SEED) as emu:
        cloud = single_attempt(emu, executor, timeout=0.1)
        emu.add_fault(method="GET", path=r"/addresses/", status=0, latency=0.4, count=1)

        with pytest.raises(CloudError) as caught:
            await cloud.addresses.find(PROJECT, chain().address.key)

        assert caught.value.fault is Fault.TRANSIENT


async def test_an_unreachable_endpoint_is_transient(executor: ThreadPoolExecutor) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    calls = CallLog()
    endpoints = dict.fromkeys(SERVICES, closed)
    config = GcpConfig(endpoints=endpoints, anonymous=True, timeout=2.0, on_call=calls, retry=NO_RETRIES)
    cloud = build_cloud(config, executor)

    with pytest.raises(CloudError) as caught:
        await cloud.addresses.find(PROJECT, chain().address.key)

    assert caught.value.fault is Fault.TRANSIENT
    assert calls.calls == [("compute", "globalAddresses.get", "UNAVAILABLE")]


async def test_every_call_reaches_the_metrics_hook(
    cloud: Cloud, emulator: EmulatorHandle, call_log: CallLog
) -> None:
    neg = chain().neg
    await cloud.negs.find(PROJECT, neg.key)
    await cloud.negs.create(PROJECT, neg, MARKS)
    await cloud.negs.create(PROJECT, neg, MARKS)

    assert call_log.calls == [
        ("compute", "regionNetworkEndpointGroups.get", "404"),
        ("compute", "regionNetworkEndpointGroups.insert", "200"),
        ("compute", "regionOperations.wait", "200"),  # the insert answers RUNNING (recorded)
        ("compute", "regionNetworkEndpointGroups.get", "200"),
        ("compute", "regionNetworkEndpointGroups.insert", "409"),
        ("compute", "regionNetworkEndpointGroups.get", "200"),
    ]


async def wait_for_request(emu: EmulatorHandle, method: str, path_end: str) -> None:
    """Poll the request log (bounded) until such a request arrived."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while not requests_to(emu, method, path_end):
        assert asyncio.get_running_loop().time() < deadline, f"no {method} {path_end}"
        await asyncio.sleep(0.01)


async def test_a_resource_busy_with_another_operation_is_transient(
    cloud: Cloud, emulator: EmulatorHandle, executor: ThreadPoolExecutor
) -> None:
    resources = chain()
    desired, observed = await create_through(cloud, resources, "backend")
    emulator.world.latency.table[("compute", "backendServices", "patch")] = 30.0
    emulator.world.settings["compute.operationWaitSeconds"] = 0.05  # short waits: the task cancels fast
    first = asyncio.ensure_future(
        cloud.backend_services.update(PROJECT, dataclasses.replace(desired, protocol="HTTP"), observed)
    )
    try:
        await wait_for_request(emulator, "PATCH", desired.key.name)

        with pytest.raises(CloudError) as caught:
            await single_attempt(emulator, executor).backend_services.unmark(PROJECT, observed, MARKS)

        assert caught.value.fault is Fault.TRANSIENT
        assert "not ready" in caught.value.message
    finally:
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
