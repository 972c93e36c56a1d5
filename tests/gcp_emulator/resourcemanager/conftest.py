"""Resource Manager tests: google-cloud-resource-manager (v3, REST) and the v1 discovery client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import resourcemanager_v3
from tests.demo_project import demo_project
from tests.gcp_emulator.google_clients import discovery_client, rest_client

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread


@pytest.fixture
def seed() -> dict[str, Any]:
    return {
        "projects": [
            demo_project(displayName="Demo", parent="organizations/555", labels={"env": "test"}),
            {
                "projectId": "narrow-project",
                "projectNumber": "222222222222",
                "permissions": ["resourcemanager.projects.get", "run.services.get"],
            },
            {"projectId": "hidden-project", "projectNumber": "333333333333", "permissions": []},
        ]
    }


@pytest.fixture
def projects(emulator: GcpEmulatorThread) -> resourcemanager_v3.ProjectsClient:
    return rest_client(resourcemanager_v3.ProjectsClient, emulator)


@pytest.fixture
def projects_v1(emulator: GcpEmulatorThread) -> Iterator[Any]:
    with discovery_client(emulator, "cloudresourcemanager", "v1") as client:
        yield client.projects()
