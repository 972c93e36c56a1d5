"""kopf 1.45 (`kopf run` in a subprocess) against the emulated API: the whole handling cycle."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from iap_sandbox.emulators.kube.server import KubeEmulatorHandle

from .conftest import WIDGETS, Api, widget
from .polling import eventually

HANDLERS = Path(__file__).with_name("kopf_handlers.py")


@pytest.fixture(params=["standalone", "peering"])
async def operator(
    request: pytest.FixtureRequest, kube: KubeEmulatorHandle, tmp_path: Path
) -> AsyncIterator[str]:
    """A running `kopf run`; yields its mode. `peering` runs with a KopfPeering object to coordinate on."""
    mode = ["--standalone"] if request.param == "standalone" else ["--peering=default"]
    if request.param == "peering":
        kube.create(
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "KopfPeering",
                "metadata": {"name": "default", "namespace": "default"},
            }
        )
    log = tmp_path / "kopf.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kopf",
            "run",
            *mode,
            "--namespace=default",
            "--verbose",
            str(HANDLERS),
            env={**os.environ, "KUBE_EMULATOR_URL": kube.url},
            stdout=sink,
            stderr=sink,
        )
        try:
            yield str(request.param)
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


async def _events(api: Api, name: str) -> list[dict[str, Any]]:
    reply = await api.get("/api/v1/namespaces/default/events", fieldSelector=f"involvedObject.name={name}")
    return list(reply.body["items"])


async def _events_saying(api: Api, name: str, message: str) -> list[dict[str, Any]]:
    events = await _events(api, name)
    return events if any(event["message"] == message for event in events) else []


async def test_kopf_sees_create_update_delete(api: Api, operator: str) -> None:
    if operator == "peering":  # kopf announces itself in the peering object's status

        async def announced() -> dict[str, Any]:
            reply = await api.get("/apis/kopf.dev/v1/namespaces/default/kopfpeerings/default")
            return dict(reply.body.get("status") or {})

        peers = await eventually(announced)
        assert all("lastseen" in peer for peer in peers.values())

    await api.post(WIDGETS, widget(size=3))

    async def handled_creation() -> dict[str, Any] | None:
        obj = (await api.get(f"{WIDGETS}/w1")).body
        done = obj.get("status", {}).get("created") == {"size": 3} and obj["metadata"].get("finalizers")
        return obj if done else None

    obj = await eventually(handled_creation)
    assert obj["status"]["phase"] == "Created"  # patched through the /status subresource
    assert obj["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
    events = await eventually(lambda: _events_saying(api, "w1", "size 3"))
    assert {"widget created", "size 3"} <= {event["message"] for event in events}
    assert all(event["metadata"]["name"].startswith("kopf-event-") for event in events)

    await api.patch(f"{WIDGETS}/w1", {"spec": {"size": 5}})

    async def handled_update() -> bool:
        status = (await api.get(f"{WIDGETS}/w1")).body.get("status", {})
        return status.get("updated") == {"size": 5} and status.get("phase") == "Updated"

    await eventually(handled_update)

    await api.delete(f"{WIDGETS}/w1")

    async def gone() -> bool:
        return (await api.get(f"{WIDGETS}/w1")).status == 404

    await eventually(gone)
    await eventually(lambda: _events_saying(api, "w1", "widget w1 deleted"))
