"""Cloud Run v2: find, masked etag-guarded updates, the long-running operation, the IAP conflict rule."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.ports import Cloud
from iap_sandbox.emulators.gcp.testing import EmulatorHandle, run_gcp_emulator

from .conftest import PROJECT, REGION, RUN_SERVICE, SEED, chain, make_cloud, requests_to
from .test_compute_lifecycle import create_up_to

SERVICE_PATH = f"v2/projects/{PROJECT}/locations/{REGION}/services/{RUN_SERVICE}"


async def test_find(cloud: Cloud, emulator: EmulatorHandle) -> None:
    assert await cloud.cloud_run.find(PROJECT, REGION, "missing") is None

    found = await cloud.cloud_run.find(PROJECT, REGION, RUN_SERVICE)

    assert found is not None
    assert (found.project, found.region, found.name) == (PROJECT, REGION, RUN_SERVICE)
    assert found.ingress == "INGRESS_TRAFFIC_ALL"
    assert found.iap_enabled is False
    assert found.uri.startswith("https://")
    assert found.etag == emulator.state()[SERVICE_PATH]["etag"]


async def test_update_changes_only_the_given_fields(cloud: Cloud, emulator: EmulatorHandle) -> None:
    service = await cloud.cloud_run.find(PROJECT, REGION, RUN_SERVICE)
    assert service is not None
    template_before = emulator.state()[SERVICE_PATH]["template"]

    updated = await cloud.cloud_run.update(service, ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER")
    assert updated.ingress == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert updated.etag != service.etag
    both = await cloud.cloud_run.update(updated, ingress="INGRESS_TRAFFIC_ALL", iap_enabled=True)

    assert (both.ingress, both.iap_enabled) == ("INGRESS_TRAFFIC_ALL", True)
    stored = emulator.state()[SERVICE_PATH]
    assert stored["iapEnabled"] is True
    assert stored["template"] == template_before
    masks = [r["query"]["updateMask"] for r in requests_to(emulator, "PATCH", RUN_SERVICE)]
    assert masks == ["ingress", "ingress,iapEnabled"]
    assert await cloud.cloud_run.update(both) == both  # nothing asked: no call


async def test_update_with_a_stale_etag_is_a_conflict(cloud: Cloud, emulator: EmulatorHandle) -> None:
    service = await cloud.cloud_run.find(PROJECT, REGION, RUN_SERVICE)
    assert service is not None
    emulator.mutate(SERVICE_PATH, {"labels": {"edited": "yes"}})

    with pytest.raises(CloudError) as caught:
        await cloud.cloud_run.update(service, iap_enabled=True)

    assert caught.value.fault is Fault.CONFLICT
    assert emulator.state()[SERVICE_PATH].get("iapEnabled") in (None, False)


async def test_unknown_ingress_is_invalid(cloud: Cloud, emulator: EmulatorHandle) -> None:
    service = await cloud.cloud_run.find(PROJECT, REGION, RUN_SERVICE)
    assert service is not None
    with pytest.raises(CloudError) as caught:
        await cloud.cloud_run.update(service, ingress="EVERYWHERE")
    assert caught.value.fault is Fault.INVALID
    assert requests_to(emulator, "PATCH", RUN_SERVICE) == []


async def test_direct_iap_refused_while_a_backend_service_has_iap(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    resources = chain()
    await create_up_to(cloud, resources, "url_map")  # the NEG and the IAP-enabled backend service
    service = await cloud.cloud_run.find(PROJECT, REGION, RUN_SERVICE)
    assert service is not None

    with pytest.raises(CloudError) as caught:
        await cloud.cloud_run.update(service, iap_enabled=True)

    assert caught.value.fault is Fault.FAILED_PRECONDITION
    assert resources.backend.key.name in caught.value.message


async def test_update_waits_for_the_operation(executor: ThreadPoolExecutor) -> None:
    async with run_gcp_emulator(seed=SEED, latency={("run", "*", "*"): 0.1}) as emu:
        cloud = make_cloud(emu, executor)
        service = await cloud.cloud_run.find(PROJECT, REGION, RUN_SERVICE)
        assert service is not None

        updated = await cloud.cloud_run.update(service, ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER")

        assert updated.ingress == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
        polls = [r for r in emu.requests() if "/operations/" in r["path"]]
        assert polls
        assert all(r["method"] == "GET" and r["status"] == 200 for r in polls)
