"""The demo project most emulator tests seed, and the names derived from it."""

from __future__ import annotations

from typing import Any

PROJECT = "demo-project"
NUMBER = "123456789012"
REGION = "us-central1"
SELF = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}"


def demo_project(**fields: Any) -> dict[str, Any]:
    """The demo project's seed entry (`projectId`, `projectNumber`) with extra seed `fields`."""
    return {"projectId": PROJECT, "projectNumber": NUMBER, **fields}
