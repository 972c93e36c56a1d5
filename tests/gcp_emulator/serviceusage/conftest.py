"""Service Usage tests: google-api-python-client (static discovery) against the threaded emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.demo_project import REGION, demo_project
from tests.gcp_emulator.google_clients import discovery_client

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread


@pytest.fixture
def seed() -> dict[str, Any]:
    hello = [{"name": "hello", "region": REGION}]
    return {
        "projects": [
            demo_project(cloudRunServices=hello),
            {
                "projectId": "locked-project",
                "projectNumber": "210987654321",
                "disabledServices": ["iap.googleapis.com", "run.googleapis.com"],
                "cloudRunServices": hello,
            },
        ]
    }


@pytest.fixture
def usage_beta(emulator: GcpEmulatorThread) -> Iterator[Any]:
    with discovery_client(emulator, "serviceusage", "v1beta1") as client:
        yield client


@pytest.fixture
def usage(emulator: GcpEmulatorThread) -> Iterator[Any]:
    with discovery_client(emulator, "serviceusage", "v1") as client:
        yield client
