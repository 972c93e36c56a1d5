"""Operations with latency (loop time), the latency profile, requestId memory, and core helpers."""

from __future__ import annotations

import asyncio

import pytest

from iap_sandbox.emulators.gcp.core import (
    Clock,
    GoogleError,
    Store,
    backend_services_with_iap_for_run_service,
    cloud_run_iap_enabled,
    deep_merge,
    enum_name,
    is_rfc1035_name,
    new_fingerprint,
    new_numeric_id,
)
from iap_sandbox.emulators.gcp.operations import LatencyProfile, Operation, Operations


def test_latency_profile_lookup_and_scale() -> None:
    profile = LatencyProfile.named("realistic", scale=0.1)
    assert profile.seconds("compute", "backendServices", "insert") == pytest.approx(2.0)
    assert profile.seconds("compute", "backendServices", "delete") == pytest.approx(1.2)
    assert profile.seconds("compute", "somethingElse", "insert") == pytest.approx(0.5)
    assert profile.seconds("unknown", "x", "y") == 0.0
    assert LatencyProfile.named("zero").seconds("compute", "backendServices", "insert") == 0.0
    with pytest.raises(ValueError, match="latency profile"):
        LatencyProfile.named("slow")


async def test_zero_delay_is_answered_running_then_done_at_once() -> None:
    """GCP answers these methods with a running operation: the first answer is never the done one."""
    ops = Operations(Clock())
    op = ops.start("ops/1", {"done": False}, 0, lambda o: o.body.update(done=True))
    assert op.body == {"done": False}
    assert await ops.wait(op, 0.5)
    assert op.body == {"done": True}


async def test_now_completes_inline_and_add_done_records() -> None:
    ops = Operations(Clock())
    op = ops.start("ops/1", {"done": False}, 5.0, lambda o: o.body.update(done=True), now=True)
    assert op.body == {"done": True}
    assert op.done.is_set()
    recorded = ops.add_done("ops/2", {"done": True})
    assert ops.get("ops/2") is recorded
    assert recorded.done.is_set()


@pytest.mark.looptime
async def test_delayed_operation_in_loop_time() -> None:
    ops = Operations(Clock())
    loop = asyncio.get_running_loop()
    started = loop.time()
    op = ops.start("ops/1", {"done": False}, 45.0, lambda o: o.body.update(done=True))
    assert not op.body["done"]
    assert not await ops.wait(op, 10.0)  # still running after 10s
    assert await ops.wait(op, 60.0)
    assert op.body["done"]
    assert loop.time() - started == pytest.approx(45.0)


async def test_failure_goes_to_fail() -> None:
    ops = Operations(Clock())

    def boom(op: Operation) -> None:
        raise GoogleError(409, "conflict", status="ABORTED")

    op = ops.start("ops/2", {"name": "ops/2", "done": False}, 0, boom, now=True)
    assert op.body == {"name": "ops/2", "done": True, "error": {"code": 10, "message": "conflict"}}


@pytest.mark.looptime
async def test_request_ids_expire() -> None:
    ops = Operations(Clock())
    op = ops.start("ops/3", {}, 0, lambda o: None)
    ops.remember("p", "id-1", op)
    assert ops.remembered("p", "id-1") is op
    assert ops.remembered("q", "id-1") is None
    await asyncio.sleep(Operations.REQUEST_ID_TTL + 1)
    assert ops.remembered("p", "id-1") is None


async def test_clear_cancels_pending_operations() -> None:
    ops = Operations(Clock())
    op = ops.start("ops/4", {"done": False}, 3600, lambda o: o.body.update(done=True))
    ops.clear()
    assert ops.get("ops/4") is None
    assert op.handle is not None
    assert op.handle.cancelled()


def test_ids_and_names() -> None:
    assert new_numeric_id().isdigit()
    assert int(new_numeric_id()) < 2**64
    assert len({new_fingerprint() for _ in range(10)}) == 10
    assert is_rfc1035_name("a")
    assert not is_rfc1035_name("a-")
    assert not is_rfc1035_name("a" * 64)


def test_enum_name_and_deep_merge() -> None:
    names = {1: "INGRESS_TRAFFIC_ALL", 2: "INGRESS_TRAFFIC_INTERNAL_ONLY"}
    assert enum_name(2, names) == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    assert enum_name("1", names) == "INGRESS_TRAFFIC_ALL"
    assert enum_name("INGRESS_TRAFFIC_ALL", names) == "INGRESS_TRAFFIC_ALL"
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": 3}, "d": None}) == {"a": {"b": 3, "c": 2}}


def test_cloud_run_behind_iap_backend_service() -> None:
    store = Store()
    run = "v2/projects/p/locations/us-central1/services/hello"
    neg = "compute/v1/projects/p/regions/us-central1/networkEndpointGroups/neg"
    bs = "compute/v1/projects/p/global/backendServices/bs"
    store.put(run, {"iapEnabled": True})
    store.put(neg, {"cloudRun": {"service": "hello"}})
    group = "https://www.googleapis.com/compute/v1/projects/p/regions/us-central1/networkEndpointGroups/neg"
    store.put(bs, {"backends": [{"group": group}], "iap": {"enabled": False}})
    assert cloud_run_iap_enabled(store, "p", "us-central1", "hello")
    assert backend_services_with_iap_for_run_service(store, "p", "us-central1", "hello") == []
    store.put(bs, {"backends": [{"group": group}], "iap": {"enabled": True}})
    assert backend_services_with_iap_for_run_service(store, "p", "us-central1", "hello") == [bs]
    assert backend_services_with_iap_for_run_service(store, "p", "europe-west1", "hello") == []
