"""Fixtures for the CRD tests: the CRD manifest, and the corpus as `valid_case`/`invalid_case` parameters."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from iap_operator.resources import crd_path

from .corpus import INVALID, VALID


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, cases in (("valid_case", VALID), ("invalid_case", INVALID)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, cases, ids=[case.name for case in cases])


@pytest.fixture(scope="session")
def crd() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(crd_path().read_text())
    return loaded


@pytest.fixture(scope="session")
def schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    found: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return found
