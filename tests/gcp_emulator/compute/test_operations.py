"""Compute operations: `*_unary` + the operations clients' `wait`, latency, requestId de-duplication.

google-cloud-compute's `ExtendedOperation.result()` polls Google's own host whatever endpoint the client
was given, so code aimed at the emulator uses the `*_unary` methods and waits with a
`GlobalOperationsClient`/`RegionOperationsClient` built with the same endpoint, as these tests do.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread, run_gcp_emulator

from .conftest import PROJECT, REGION, SEED, SELF, Compute, reason_of

SLOW = {("compute", "*", "*"): 0.3}
DONE = compute_v1.Operation.Status.DONE
RUNNING = compute_v1.Operation.Status.RUNNING


@pytest.mark.parametrize("latency", [SLOW])
def test_unary_call_then_wait_with_the_operations_client(compute: Compute) -> None:
    resource = compute_v1.NetworkEndpointGroup(
        name="neg-hello",
        network_endpoint_type="SERVERLESS",
        cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service="hello"),
    )
    op = compute.negs.insert_unary(project=PROJECT, region=REGION, network_endpoint_group_resource=resource)
    assert op.status == RUNNING
    assert op.progress == 0
    assert op.target_link == f"{SELF}/regions/{REGION}/networkEndpointGroups/neg-hello"
    assert op.region == f"{SELF}/regions/{REGION}"
    with pytest.raises(exceptions.NotFound):  # the effect shows when the operation is done
        compute.negs.get(project=PROJECT, region=REGION, network_endpoint_group="neg-hello")

    done = compute.region_operations.wait(project=PROJECT, region=REGION, operation=op.name)
    assert done.status == DONE
    assert done.progress == 100
    assert done.end_time
    assert (
        done.target_id
        == compute.negs.get(project=PROJECT, region=REGION, network_endpoint_group="neg-hello").id
    )
    got = compute.region_operations.get(project=PROJECT, region=REGION, operation=op.name)
    assert got.status == DONE


@pytest.mark.parametrize("latency", [SLOW])
def test_resource_is_not_ready_while_its_operation_runs(compute: Compute) -> None:
    compute.neg()
    bs = compute.backend_service()
    patch = compute_v1.BackendService(fingerprint=bs.fingerprint, description="one")
    op = compute.backend_services.patch_unary(
        project=PROJECT, backend_service="bs-hello", backend_service_resource=patch
    )
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.backend_services.delete_unary(project=PROJECT, backend_service="bs-hello")
    assert reason_of(caught.value) == "resourceNotReady"
    assert compute.backend_services.get(project=PROJECT, backend_service="bs-hello").description == ""
    compute.wait(op)
    assert compute.backend_services.get(project=PROJECT, backend_service="bs-hello").description == "one"


@pytest.mark.parametrize(
    ("latency", "settings"), [({("compute", "*", "*"): 30.0}, {"compute.operationWaitSeconds": 0.1})]
)
def test_wait_returns_running_after_its_deadline(compute: Compute) -> None:
    op = compute.addresses.insert_unary(project=PROJECT, address_resource=compute_v1.Address(name="ip-slow"))
    waited = compute.global_operations.wait(project=PROJECT, operation=op.name)
    assert waited.status == RUNNING
    assert waited.name == op.name


def test_operations_list_get_delete(compute: Compute) -> None:
    compute.address()
    compute.address(name="ip-two")
    ops = list(compute.global_operations.list(project=PROJECT))
    assert len(ops) == 2
    assert all(op.operation_type == "insert" and op.status == DONE for op in ops)
    assert list(compute.region_operations.list(project=PROJECT, region=REGION)) == []

    compute.global_operations.delete(project=PROJECT, operation=ops[0].name)
    with pytest.raises(exceptions.NotFound):
        compute.global_operations.get(project=PROJECT, operation=ops[0].name)


def test_request_id_deduplicates(compute: Compute, emulator: GcpEmulatorThread) -> None:
    request_id = str(uuid.uuid4())
    request = compute_v1.InsertGlobalAddressRequest(
        project=PROJECT, address_resource=compute_v1.Address(name="ip-once"), request_id=request_id
    )
    first = compute.addresses.insert_unary(request=request)
    second = compute.addresses.insert_unary(request=request)  # a retry: no 409, the same operation
    assert second.name == first.name
    assert second.id == first.id
    assert [a.name for a in compute.addresses.list(project=PROJECT)] == ["ip-once"]
    assert len([p for p in emulator.state() if "/addresses/" in p]) == 1

    # The same id in another project is another request.
    other = compute_v1.InsertGlobalAddressRequest(
        project="other-project", address_resource=compute_v1.Address(name="ip-once"), request_id=request_id
    )
    assert compute.addresses.insert_unary(request=other).name != first.name


@pytest.mark.parametrize("latency", [SLOW])
def test_request_id_deduplicates_while_running(compute: Compute) -> None:
    request_id = str(uuid.uuid4())
    compute.address()
    delete = compute_v1.DeleteGlobalAddressRequest(project=PROJECT, address="ip-hello", request_id=request_id)
    first = compute.addresses.delete_unary(request=delete)
    second = compute.addresses.delete_unary(request=delete)  # not "not ready": the same operation
    assert second.name == first.name
    assert compute.wait(second).status == DONE


def test_request_id_must_be_a_uuid(compute: Compute) -> None:
    for bad in ("not-a-uuid", str(uuid.UUID(int=0))):
        request = compute_v1.InsertGlobalAddressRequest(
            project=PROJECT, address_resource=compute_v1.Address(name="ip-x"), request_id=bad
        )
        with pytest.raises(exceptions.BadRequest):
            compute.addresses.insert_unary(request=request)


def test_missing_operation_is_not_found(emulator: GcpEmulatorThread) -> None:
    response = requests.get(
        f"{emulator.url}/compute/v1/projects/{PROJECT}/global/operations/operation-nope", timeout=10
    )
    assert response.status_code == 404
    assert response.json()["error"]["errors"][0]["reason"] == "notFound"


@pytest.mark.looptime
async def test_realistic_latency_in_loop_time() -> None:
    """The realistic profile: a backend service insert RUNNING for ~20s of loop time, no wall time."""
    async with run_gcp_emulator(seed=SEED, latency="realistic") as emu, aiohttp.ClientSession() as http:
        loop = asyncio.get_running_loop()
        base = f"{emu.url}/compute/v1/projects/{PROJECT}"
        neg = {"name": "neg-hello", "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "hello"}}
        async with http.post(f"{base}/regions/{REGION}/networkEndpointGroups", json=neg) as response:
            op = await response.json()
        async with http.post(f"{base}/regions/{REGION}/operations/{op['name']}/wait") as response:
            assert (await response.json())["status"] == "DONE"

        started = loop.time()
        backends = [{"group": f"regions/{REGION}/networkEndpointGroups/neg-hello"}]
        async with http.post(
            f"{base}/global/backendServices", json={"name": "bs", "backends": backends}
        ) as response:
            op = await response.json()
        assert op["status"] == "RUNNING"
        async with http.get(f"{base}/global/operations/{op['name']}") as response:
            assert (await response.json())["status"] == "RUNNING"
        async with http.post(f"{base}/global/operations/{op['name']}/wait") as response:
            done = await response.json()
        assert done["status"] == "DONE"
        assert loop.time() - started == pytest.approx(20.0, abs=0.5)
        async with http.get(f"{base}/global/backendServices/bs") as response:
            assert response.status == 200
