"""Fixtures for the deployment tests: the repository root and kustomize renders (via kubectl)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
Render = Callable[[str], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def kustomize() -> Render:
    """`kustomize("deploy/base")` -> the rendered objects (kubectl's built-in kustomize, cached)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    renders: dict[str, list[dict[str, Any]]] = {}

    def render(path: str) -> list[dict[str, Any]]:
        if path not in renders:
            done = subprocess.run(
                [kubectl, "kustomize", str(REPO / path)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, f"kubectl kustomize {path} failed:\n{done.stderr}"
            renders[path] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
        return renders[path]

    return render
