"""Cloud Run v2 services: get, list, patch (etag, updateMask, validateOnly), long-running operations."""

from __future__ import annotations

import json
import urllib.request

import pytest
from google.api_core import exceptions
from google.api_core.future.polling import DEFAULT_POLLING
from google.cloud import run_v2
from google.protobuf import field_mask_pb2
from tests.demo_project import NUMBER

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import HELLO, HELLO_PATH, REGION

FAST_POLLING = DEFAULT_POLLING.with_delay(initial=0.01, maximum=0.05).with_timeout(10)
Ingress = run_v2.IngressTraffic


def test_get_returns_the_seeded_service(services: run_v2.ServicesClient) -> None:
    service = services.get_service(name=HELLO)
    assert service.name == HELLO
    assert service.ingress == Ingress.INGRESS_TRAFFIC_ALL
    # recorded (runservicebasic): no ports unless the deployer set one; GEN2; default limits
    assert not service.template.containers[0].ports
    assert service.template.execution_environment == run_v2.ExecutionEnvironment.EXECUTION_ENVIRONMENT_GEN2
    assert service.template.containers[0].resources.limits == {"cpu": "1000m", "memory": "512Mi"}
    assert service.generation == 1
    assert service.observed_generation == 1
    assert service.uri.startswith("https://hello-")
    assert service.etag
    assert not service.iap_enabled
    assert service.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED


def test_seed_options_set_ingress_port_name_and_iap(services: run_v2.ServicesClient) -> None:
    grpc = services.get_service(name=f"projects/demo-project/locations/{REGION}/services/grpc")
    assert grpc.ingress == Ingress.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER
    assert grpc.template.containers[0].ports[0].name == "h2c"
    abroad = services.get_service(name="projects/demo-project/locations/europe-west1/services/abroad")
    assert abroad.iap_enabled


def test_project_number_names_the_same_service(services: run_v2.ServicesClient) -> None:
    service = services.get_service(name=f"projects/{NUMBER}/locations/{REGION}/services/hello")
    assert service.name == HELLO


def test_unknown_service_is_not_found(services: run_v2.ServicesClient) -> None:
    # recorded (runservicebasic): `service "projects/.../services/nope" not found`, status NOT_FOUND
    with pytest.raises(
        exceptions.NotFound,
        match='service "projects/demo-project/locations/us-central1/services/nope" not found',
    ):
        services.get_service(name=f"projects/demo-project/locations/{REGION}/services/nope")


def test_unknown_project_is_denied(services: run_v2.ServicesClient) -> None:
    with pytest.raises(exceptions.Forbidden):
        services.get_service(name=f"projects/other-project/locations/{REGION}/services/hello")


def test_list_pages_through_one_region(services: run_v2.ServicesClient) -> None:
    pager = services.list_services(
        request={"parent": f"projects/demo-project/locations/{REGION}", "page_size": 1}
    )
    names = [s.name.rsplit("/", 1)[-1] for s in pager]
    assert names == ["grpc", "hello"]


def test_patch_with_update_mask_changes_only_masked_fields(
    services: run_v2.ServicesClient, emulator: GcpEmulatorThread
) -> None:
    before = services.get_service(name=HELLO)
    change = run_v2.Service(name=HELLO, iap_enabled=True, ingress=Ingress.INGRESS_TRAFFIC_INTERNAL_ONLY)
    operation = services.update_service(
        request={"service": change, "update_mask": field_mask_pb2.FieldMask(paths=["iap_enabled"])}
    )
    after = operation.result(polling=FAST_POLLING)
    assert after.iap_enabled
    assert after.ingress == Ingress.INGRESS_TRAFFIC_ALL  # not in the mask
    assert after.generation == 2
    assert after.etag != before.etag
    assert after.template.containers[0].image == before.template.containers[0].image
    stored = emulator.state()[HELLO_PATH]
    assert stored["iapEnabled"] is True
    assert stored["generation"] == "2"


def test_patch_without_mask_replaces_the_spec(services: run_v2.ServicesClient) -> None:
    service = services.get_service(name=HELLO)
    service.template.containers[0].ports = [run_v2.ContainerPort(name="h2c", container_port=8080)]
    service.ingress = Ingress.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER
    updated = services.update_service(service=service).result(polling=FAST_POLLING)
    assert updated.template.containers[0].ports[0].name == "h2c"
    assert updated.ingress == Ingress.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER
    assert updated.latest_created_revision != service.latest_created_revision
    assert updated.latest_ready_revision == updated.latest_created_revision
    # Turning a flag off works without a mask too (proto3 leaves false out of the body).
    updated.iap_enabled = False
    assert not services.update_service(service=updated).result(polling=FAST_POLLING).iap_enabled


def test_stale_etag_is_aborted(services: run_v2.ServicesClient) -> None:
    stale = services.get_service(name=HELLO)
    fresh = services.get_service(name=HELLO)
    fresh.labels["team"] = "a"
    services.update_service(service=fresh).result(polling=FAST_POLLING)
    stale.labels["team"] = "b"
    with pytest.raises(exceptions.Conflict) as caught:
        services.update_service(service=stale)
    assert caught.value.code == 409
    assert caught.value.response.json()["error"]["status"] == "ABORTED"
    assert services.get_service(name=HELLO).labels["team"] == "a"


def test_out_of_band_change_bumps_etag_and_generation(
    services: run_v2.ServicesClient, emulator: GcpEmulatorThread
) -> None:
    before = services.get_service(name=HELLO)
    emulator.mutate(HELLO_PATH, {"ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY"})
    after = services.get_service(name=HELLO)
    assert after.ingress == Ingress.INGRESS_TRAFFIC_INTERNAL_ONLY
    assert after.generation == before.generation + 1
    assert after.etag != before.etag
    with pytest.raises(exceptions.Conflict):
        services.update_service(service=before)


def test_invalid_port_name_is_rejected(services: run_v2.ServicesClient) -> None:
    service = services.get_service(name=HELLO)
    service.template.containers[0].ports = [run_v2.ContainerPort(name="http2", container_port=8080)]
    with pytest.raises(exceptions.BadRequest, match="http1' or 'h2c"):
        services.update_service(service=service)


def test_validate_only_changes_nothing(services: run_v2.ServicesClient, emulator: GcpEmulatorThread) -> None:
    before = emulator.state()[HELLO_PATH]
    operation = services.update_service(
        request={
            "service": run_v2.Service(name=HELLO, iap_enabled=True),
            "update_mask": field_mask_pb2.FieldMask(paths=["iap_enabled"]),
            "validate_only": True,
        }
    )
    assert operation.result(polling=FAST_POLLING).iap_enabled
    assert emulator.state()[HELLO_PATH] == before


@pytest.mark.parametrize("latency", [{("run", "services", "patch"): 0.3}])
def test_patch_operation_completes_after_its_latency(
    services: run_v2.ServicesClient, emulator: GcpEmulatorThread
) -> None:
    operation = services.update_service(
        request={
            "service": run_v2.Service(name=HELLO, iap_enabled=True),
            "update_mask": field_mask_pb2.FieldMask(paths=["iap_enabled"]),
        }
    )
    assert not operation.done(retry=None)
    reconciling = services.get_service(name=HELLO)
    assert reconciling.reconciling
    assert reconciling.iap_enabled  # the spec is stored at once; readiness follows the operation
    assert reconciling.observed_generation == 1
    result = operation.result(polling=FAST_POLLING)
    assert result.observed_generation == result.generation == 2
    assert not services.get_service(name=HELLO).reconciling
    polled = [r for r in emulator.requests() if r["method"] == "GET" and "/operations/" in r["path"]]
    assert polled, "the client polled the operation through the emulator"
    assert polled[-1]["path"].startswith(f"/v2/projects/demo-project/locations/{REGION}/operations/")


def test_patch_body_is_read_like_googles_json_parser(
    services: run_v2.ServicesClient, emulator: GcpEmulatorThread
) -> None:
    """Numbers for enums (what `enum-encoding=int` clients send), snake_case names, echoed output fields."""
    body = {
        "launch_stage": 3,  # BETA: LaunchStage numbers are not in declaration order
        "ingress": 2,
        "terminalCondition": {"state": 4, "reason": 17},  # output only: ignored
        "template": {"containers": [{"image": "x", "ports": [{"name": "h2c"}]}]},
    }
    request = urllib.request.Request(
        f"{emulator.url}/{HELLO_PATH}", data=json.dumps(body).encode(), method="PATCH"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    service = services.get_service(name=HELLO)
    assert emulator.state()[HELLO_PATH]["launchStage"] == "BETA"
    assert service.ingress == Ingress.INGRESS_TRAFFIC_INTERNAL_ONLY
    assert service.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED


def test_allow_missing_creates_the_service(
    services: run_v2.ServicesClient, emulator: GcpEmulatorThread
) -> None:
    name = f"projects/demo-project/locations/{REGION}/services/fresh"
    container = run_v2.Container(
        image="example/fresh", ports=[run_v2.ContainerPort(name="h2c", container_port=9000)]
    )
    service = run_v2.Service(name=name, template=run_v2.RevisionTemplate(containers=[container]))
    with pytest.raises(exceptions.NotFound):
        services.update_service(service=service)
    created = services.update_service(request={"service": service, "allow_missing": True}).result(
        polling=FAST_POLLING
    )
    assert created.generation == 1
    assert created.template.containers[0].ports[0].container_port == 9000
    assert f"v2/{name}" in emulator.state()
