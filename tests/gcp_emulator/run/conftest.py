"""Cloud Run Admin API tests: the emulator in a thread, driven by google-cloud-run's REST transport."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from iap_operator.emulators.gcp.conformance import ResponseRecorder
from iap_operator.emulators.gcp.testing import GcpEmulatorThread

PROJECT = "demo-project"
NUMBER = "123456789012"
REGION = "us-central1"
HELLO = f"projects/{PROJECT}/locations/{REGION}/services/hello"
HELLO_PATH = f"v2/{HELLO}"

SEED: dict[str, Any] = {
    "projects": [
        {
            "projectId": PROJECT,
            "projectNumber": NUMBER,
            "cloudRunServices": [
                {"name": "hello", "region": REGION},
                {
                    "name": "grpc",
                    "region": REGION,
                    "containerPortName": "h2c",
                    "ingress": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
                },
                {"name": "abroad", "region": "europe-west1", "iapEnabled": True},
            ],
            "iamPolicies": {
                HELLO_PATH: {"bindings": [{"role": "roles/run.invoker", "members": ["user:ops@example.com"]}]}
            },
        }
    ]
}


@pytest.fixture(autouse=True)
def conformance() -> Iterator[ResponseRecorder]:
    """Every response of the test must match Google's discovery schemas."""
    with ResponseRecorder() as recorder:
        yield recorder
    problems = recorder.violations()
    assert not problems, "\n".join(map(str, problems))


@pytest.fixture
def latency() -> dict[tuple[str, str, str], float]:
    return {}


@pytest.fixture
def emulator(latency: dict[tuple[str, str, str], float]) -> Iterator[GcpEmulatorThread]:
    with GcpEmulatorThread(seed=SEED, latency=latency) as emu:
        yield emu


@pytest.fixture
def services(emulator: GcpEmulatorThread) -> run_v2.ServicesClient:
    return run_v2.ServicesClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=emulator.url),
        credentials=AnonymousCredentials(),
    )
