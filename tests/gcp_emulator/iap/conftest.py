"""IAP tests: google-cloud-iap's REST client, with backend services made through google-cloud-compute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, iap_v1

from iap_operator.emulators.gcp.conformance import ResponseRecorder
from iap_operator.emulators.gcp.testing import GcpEmulatorThread

PROJECT = "demo-project"
NUMBER = "123456789012"
REGION = "us-central1"
SELF = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}"
WEB = f"projects/{NUMBER}/iap_web"

SEED: dict[str, Any] = {
    "projects": [
        {
            "projectId": PROJECT,
            "projectNumber": NUMBER,
            "cloudRunServices": [{"name": "hello", "region": REGION}],
        }
    ]
}


@pytest.fixture(autouse=True)
def conformance() -> Iterator[ResponseRecorder]:
    with ResponseRecorder() as recorder:
        yield recorder
    problems = recorder.violations()
    assert not problems, "\n".join(map(str, problems))


@pytest.fixture
def emulator() -> Iterator[GcpEmulatorThread]:
    with GcpEmulatorThread(seed=SEED) as emu:
        yield emu


def _options(emulator: GcpEmulatorThread) -> dict[str, Any]:
    return {"client_options": ClientOptions(api_endpoint=emulator.url), "credentials": AnonymousCredentials()}


@pytest.fixture
def iap(emulator: GcpEmulatorThread) -> iap_v1.IdentityAwareProxyAdminServiceClient:
    return iap_v1.IdentityAwareProxyAdminServiceClient(transport="rest", **_options(emulator))


@pytest.fixture
def backends(emulator: GcpEmulatorThread) -> dict[str, str]:
    """A serverless NEG for `hello`, a global and a regional backend service on it: name -> numeric id."""
    options = _options(emulator)
    negs = compute_v1.RegionNetworkEndpointGroupsClient(transport="rest", **options)
    global_bs = compute_v1.BackendServicesClient(transport="rest", **options)
    regional_bs = compute_v1.RegionBackendServicesClient(transport="rest", **options)
    neg = compute_v1.NetworkEndpointGroup(
        name="neg-hello",
        network_endpoint_type="SERVERLESS",
        cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service="hello"),
    )
    negs.insert(project=PROJECT, region=REGION, network_endpoint_group_resource=neg).result(timeout=10)
    group = f"{SELF}/regions/{REGION}/networkEndpointGroups/neg-hello"
    resource = compute_v1.BackendService(
        name="bs-global", load_balancing_scheme="EXTERNAL_MANAGED", backends=[compute_v1.Backend(group=group)]
    )
    global_bs.insert(project=PROJECT, backend_service_resource=resource).result(timeout=10)
    resource = compute_v1.BackendService(
        name="bs-regional",
        load_balancing_scheme="EXTERNAL_MANAGED",
        backends=[compute_v1.Backend(group=group)],
    )
    regional_bs.insert(project=PROJECT, region=REGION, backend_service_resource=resource).result(timeout=10)
    return {
        "bs-global": str(global_bs.get(project=PROJECT, backend_service="bs-global").id),
        "bs-regional": str(regional_bs.get(project=PROJECT, region=REGION, backend_service="bs-regional").id),
    }
