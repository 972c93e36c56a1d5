"""Fixtures of the engine tests: a fake GCP world with the Cloud Run service, and a harness on it."""

from __future__ import annotations

import pytest

from .fakes import FakeGcp
from .scenario import Harness, world


@pytest.fixture
def gcp() -> FakeGcp:
    return world()


@pytest.fixture
def harness(gcp: FakeGcp) -> Harness:
    return Harness(gcp)
