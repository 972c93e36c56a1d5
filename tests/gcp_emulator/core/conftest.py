"""Core tests: the emulator in the test's own event loop, driven over real HTTP with aiohttp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from iap_sandbox.emulators.gcp.testing import EmulatorHandle, run_gcp_emulator

PROJECT = "demo-project"
NUMBER = "123456789012"
REGION = "us-central1"
COMPUTE = f"/compute/v1/projects/{PROJECT}"
ADDRESSES = f"{COMPUTE}/global/addresses"

SEED: dict[str, Any] = {
    "projects": [
        {
            "projectId": PROJECT,
            "projectNumber": NUMBER,
            "permissions": ["run.services.get", "iap.webServices.getIamPolicy"],
            "iamPolicies": {
                f"compute/v1/projects/{PROJECT}/global/backendServices/bs": {
                    "bindings": [
                        {"role": "roles/iap.httpsResourceAccessor", "members": ["user:ops@example.com"]}
                    ]
                }
            },
        }
    ]
}


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorHandle]:
    async with run_gcp_emulator(seed=SEED) as handle:
        yield handle


@pytest.fixture
async def http(emu: EmulatorHandle) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=emu.url) as session:
        yield session
