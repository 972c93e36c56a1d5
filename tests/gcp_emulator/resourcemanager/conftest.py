"""Resource Manager tests: google-cloud-resource-manager (v3, REST) and the v1 discovery client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3
from googleapiclient.discovery import build

from iap_operator.emulators.gcp.conformance import ResponseRecorder
from iap_operator.emulators.gcp.testing import GcpEmulatorThread

SEED: dict[str, Any] = {
    "projects": [
        {
            "projectId": "demo-project",
            "projectNumber": "123456789012",
            "displayName": "Demo",
            "parent": "organizations/555",
            "labels": {"env": "test"},
        },
        {
            "projectId": "narrow-project",
            "projectNumber": "222222222222",
            "permissions": ["resourcemanager.projects.get", "run.services.get"],
        },
        {"projectId": "hidden-project", "projectNumber": "333333333333", "permissions": []},
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


@pytest.fixture
def projects(emulator: GcpEmulatorThread) -> resourcemanager_v3.ProjectsClient:
    return resourcemanager_v3.ProjectsClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=emulator.url),
        credentials=AnonymousCredentials(),
    )


@pytest.fixture
def projects_v1(emulator: GcpEmulatorThread) -> Iterator[Any]:
    with build(
        "cloudresourcemanager",
        "v1",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulator.url},
        static_discovery=True,
    ) as client:
        yield client.projects()
