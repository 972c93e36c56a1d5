"""Cloud Run Admin API tests: the emulator in a thread, driven by google-cloud-run's REST transport."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import run_v2
from tests.demo_project import PROJECT, REGION, demo_project
from tests.gcp_emulator.google_clients import rest_client

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

HELLO = f"projects/{PROJECT}/locations/{REGION}/services/hello"
HELLO_PATH = f"v2/{HELLO}"
INVOKER = {"role": "roles/run.invoker", "members": ["user:ops@example.com"]}


@pytest.fixture
def seed() -> dict[str, Any]:
    return {
        "projects": [
            demo_project(
                cloudRunServices=[
                    {"name": "hello", "region": REGION},
                    {
                        "name": "grpc",
                        "region": REGION,
                        "containerPortName": "h2c",
                        "ingress": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
                    },
                    {"name": "abroad", "region": "europe-west1", "iapEnabled": True},
                ],
                iamPolicies={
                    HELLO_PATH: {
                        "bindings": [{"role": "roles/run.invoker", "members": ["user:ops@example.com"]}]
                    }
                },
            )
        ]
    }


@pytest.fixture
def services(emulator: GcpEmulatorThread) -> run_v2.ServicesClient:
    return rest_client(run_v2.ServicesClient, emulator)
