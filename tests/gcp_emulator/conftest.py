"""Shared by the emulator folders that run it in a thread: each folder provides its `seed` fixture,
tests parametrize `latency` and `settings` indirectly by name.

Every response is checked against Google's discovery documents by tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread


@pytest.fixture
def latency() -> dict[tuple[str, str, str], float]:
    """Added latency per (service, resource, method); override with `@pytest.mark.parametrize`."""
    return {}


@pytest.fixture
def settings() -> dict[str, Any]:
    """Emulator settings (e.g. `compute.operationWaitSeconds`); override with `@pytest.mark.parametrize`."""
    return {}


@pytest.fixture
def emulator(
    seed: dict[str, Any], latency: dict[tuple[str, str, str], float], settings: dict[str, Any]
) -> Iterator[GcpEmulatorThread]:
    with GcpEmulatorThread(seed=seed, latency=latency, settings=settings) as emu:
        yield emu
