"""Service Usage tests: google-api-python-client (static discovery) against the threaded emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from googleapiclient.discovery import build

from iap_operator.emulators.gcp.conformance import ResponseRecorder
from iap_operator.emulators.gcp.testing import GcpEmulatorThread

SEED: dict[str, Any] = {
    "projects": [
        {
            "projectId": "demo-project",
            "projectNumber": "123456789012",
            "cloudRunServices": [{"name": "hello", "region": "us-central1"}],
        },
        {
            "projectId": "locked-project",
            "projectNumber": "210987654321",
            "disabledServices": ["iap.googleapis.com", "run.googleapis.com"],
            "cloudRunServices": [{"name": "hello", "region": "us-central1"}],
        },
    ]
}


@pytest.fixture(autouse=True)
def conformance() -> Iterator[ResponseRecorder]:
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


def discovery_client(emulator: GcpEmulatorThread, api: str, version: str) -> Any:
    return build(
        api,
        version,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulator.url},
        static_discovery=True,
    )


@pytest.fixture
def usage_beta(emulator: GcpEmulatorThread) -> Iterator[Any]:
    with discovery_client(emulator, "serviceusage", "v1beta1") as client:
        yield client


@pytest.fixture
def usage(emulator: GcpEmulatorThread) -> Iterator[Any]:
    with discovery_client(emulator, "serviceusage", "v1") as client:
        yield client
