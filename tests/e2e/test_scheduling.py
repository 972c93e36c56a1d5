"""One resync scheduler, summarised Events, one pass per object on restart (the operator as a process).

A restart used to run 2-3 passes per object (a kopf timer per object raced the resume handler); now kopf's
resume handler passes each object once and the scheduler's first resync of it comes half a period later
at the earliest. A creation used to post ~13 Events (one per created resource); now one per reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.e2e.harness import PROJECT, REGION, World, protected
from tests.e2e.processes import start_operator

from iap_sandbox.sandbox import emulators

pytestmark = pytest.mark.timeout(180)
NAMES = ("s0", "s1", "s2")
PERIOD = 4.0  # seconds: --resync-override of the operator processes
PASS = re.compile(r"\] (kopf\.objects|iap_operator\.resync)\s+\[INFO\s*\] \[default/(\S+)\] reconciled:")


def seed(names: tuple[str, ...]) -> dict[str, Any]:
    services = [{"name": n, "region": REGION} for n in names]
    return {
        "projects": [{"projectId": PROJECT, "projectNumber": "123456789012", "cloudRunServices": services}],
        "dns": {"*.example.com": "auto"},
    }


def resource(name: str) -> dict[str, Any]:
    return protected(
        name, cloudRun={"service": name, "region": REGION}, loadBalancer={"domains": [f"{name}.example.com"]}
    )


@contextlib.asynccontextmanager
async def plain_world(tmp_path: Path, names: tuple[str, ...] = NAMES) -> AsyncIterator[World]:
    async with (
        emulators(tmp_path / "kubeconfig", seed(names)) as emu,
        aiohttp.ClientSession() as session,
    ):
        yield World(emu.gcp, emu.kube.url, session, emu.config())


def changed(obj: dict[str, Any] | None, synced: str) -> bool:
    return obj is not None and obj["status"]["lastSyncTime"] != synced


def passes(log: str) -> Counter[tuple[str, str]]:
    """(who, object) -> passes in a process's log; who is kopf (a handler) or the resync scheduler."""
    found: Counter[tuple[str, str]] = Counter()
    for match in PASS.finditer(log):
        found["kopf" if match.group(1) == "kopf.objects" else "resync", match.group(2)] += 1
    return found


async def test_a_restart_passes_each_object_once_then_resyncs_spread(tmp_path: Path) -> None:
    args = (f"--resync-override={PERIOD}",)
    async with plain_world(tmp_path) as w:
        first = await start_operator(w, tmp_path, *args, name="first")
        try:
            for name in NAMES:
                await w.create(resource(name))
            for name in NAMES:
                await w.wait_ready(name, within=60)
        finally:
            first.kill()
            await first.stop()
        # Every object's resync is overdue when the next process starts (the case the timer raced).
        await asyncio.sleep(PERIOD * 1.2)
        synced = {name: (await w.get(name) or {})["status"]["lastSyncTime"] for name in NAMES}
        second = await start_operator(w, tmp_path, *args, name="second")
        try:
            for _ in ("resumed", "resynced"):  # each object: resumed, then resynced by the scheduler
                for name in NAMES:
                    obj = await w.wait_for(lambda o, n=name: changed(o, synced[n]), name, within=PERIOD * 3)
                    synced[name] = (obj or {})["status"]["lastSyncTime"]
            counted = passes(second.output())
        finally:
            await second.stop()
    log = second.output()
    print(f"passes per object after the restart: {dict(counted)}")
    for name in NAMES:
        assert counted["kopf", name] == 1, f"{name}: {counted}\n{log[-3000:]}"
    # The first resync comes after at least half a period (the spread), so none raced the resume pass.
    lines = [line for line in log.splitlines() if PASS.search(line)]
    assert all(PASS.search(line).group(1) == "kopf.objects" for line in lines[: len(NAMES)]), lines  # type: ignore[union-attr]


async def test_a_creation_posts_a_few_events_naming_everything_it_created(tmp_path: Path) -> None:
    async with plain_world(tmp_path, ("s0",)) as w:
        operator = await start_operator(w, tmp_path, name="operator")
        try:
            obj = await w.create(resource("s0"))
            await w.wait_ready("s0", within=60)
            await w.wait_event("Created")
            events = [e for e in await w.events() if e["involvedObject"]["uid"] == obj["metadata"]["uid"]]
        finally:
            await operator.stop()
    reasons = Counter(e["reason"] for e in events)
    print(f"Events per creation: {sum(reasons.values())} {dict(reasons)}")
    assert sum(reasons.values()) <= 4, reasons
    assert reasons["Created"] == 1, reasons
    created = next(e for e in events if e["reason"] == "Created")["message"]
    for kind in ("BackendService", "UrlMap", "TargetHttpsProxy", "GlobalForwardingRule", "GlobalAddress"):
        assert f"created {kind} " in created, created
