"""GCP refuses Cloud Run `iapEnabled` while an IAP-enabled backend service reaches the service."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1, run_v2
from google.protobuf import field_mask_pb2
from tests.gcp_emulator.google_clients import rest_client
from tests.gcp_emulator.serverless_neg import create_serverless_neg, wait

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import HELLO, PROJECT


def enable_iap(services: run_v2.ServicesClient) -> run_v2.Service:
    operation = services.update_service(
        request={
            "service": run_v2.Service(name=HELLO, iap_enabled=True),
            "update_mask": field_mask_pb2.FieldMask(paths=["iap_enabled"]),
        }
    )
    return operation.result(timeout=10)


def make_backend(emulator: GcpEmulatorThread, iap: bool) -> None:
    backends = rest_client(compute_v1.BackendServicesClient, emulator)
    resource = compute_v1.BackendService(
        name="bs-hello",
        load_balancing_scheme="EXTERNAL_MANAGED",
        backends=[compute_v1.Backend(group=create_serverless_neg(emulator))],
        iap=compute_v1.BackendServiceIAP(enabled=iap),
    )
    wait(emulator, backends.insert_unary(project=PROJECT, backend_service_resource=resource))


def test_iap_enabled_is_refused_behind_an_iap_backend_service(
    services: run_v2.ServicesClient, emulator: GcpEmulatorThread
) -> None:
    make_backend(emulator, iap=True)
    with pytest.raises(exceptions.BadRequest) as caught:
        enable_iap(services)
    error = caught.value.response.json()["error"]
    assert error["status"] == "FAILED_PRECONDITION"
    assert "bs-hello" in error["message"]
    assert not services.get_service(name=HELLO).iap_enabled


def test_iap_enabled_is_allowed_behind_a_backend_service_without_iap(
    services: run_v2.ServicesClient, emulator: GcpEmulatorThread
) -> None:
    make_backend(emulator, iap=False)
    assert enable_iap(services).iap_enabled
