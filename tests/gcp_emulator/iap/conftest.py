"""IAP tests: google-cloud-iap's REST client, with backend services made through google-cloud-compute."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import compute_v1, iap_v1
from tests.demo_project import NUMBER, PROJECT, REGION, demo_project
from tests.gcp_emulator.google_clients import rest_client
from tests.gcp_emulator.serverless_neg import create_serverless_neg, wait

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

WEB = f"projects/{NUMBER}/iap_web"


@pytest.fixture
def seed() -> dict[str, Any]:
    return {"projects": [demo_project(cloudRunServices=[{"name": "hello", "region": REGION}])]}


@pytest.fixture
def iap(emulator: GcpEmulatorThread) -> iap_v1.IdentityAwareProxyAdminServiceClient:
    return rest_client(iap_v1.IdentityAwareProxyAdminServiceClient, emulator)


@pytest.fixture
def backends(emulator: GcpEmulatorThread) -> dict[str, str]:
    """A serverless NEG for `hello`, a global and a regional backend service on it: name -> numeric id."""
    global_bs = rest_client(compute_v1.BackendServicesClient, emulator)
    regional_bs = rest_client(compute_v1.RegionBackendServicesClient, emulator)
    group = create_serverless_neg(emulator)
    resource = compute_v1.BackendService(
        name="bs-global", load_balancing_scheme="EXTERNAL_MANAGED", backends=[compute_v1.Backend(group=group)]
    )
    wait(emulator, global_bs.insert_unary(project=PROJECT, backend_service_resource=resource))
    resource = compute_v1.BackendService(
        name="bs-regional",
        load_balancing_scheme="EXTERNAL_MANAGED",
        backends=[compute_v1.Backend(group=group)],
    )
    wait(
        emulator, regional_bs.insert_unary(project=PROJECT, region=REGION, backend_service_resource=resource)
    )
    return {
        "bs-global": str(global_bs.get(project=PROJECT, backend_service="bs-global").id),
        "bs-regional": str(regional_bs.get(project=PROJECT, region=REGION, backend_service="bs-regional").id),
    }
