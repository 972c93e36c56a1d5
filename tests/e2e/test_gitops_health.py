"""Argo CD's Lua health check and Flux's kstatus, applied to every status the real operator writes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.argocd import argocd_health
from tests.deploy.kstatus import kstatus, kstatus_violations
from tests.e2e.harness import GROUP, PLURAL, REGION, VERSION, World, condition, is_ready, protected, world

pytestmark = pytest.mark.timeout(60)


@contextlib.asynccontextmanager
async def versions(w: World) -> AsyncIterator[list[dict[str, Any]]]:
    """Every version of every IapProtectedService, from a watch opened before anything is created."""
    seen: list[dict[str, Any]] = []
    url = f"{w.kube_url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}?watch=true"

    async def follow() -> None:
        async with w.session.get(url) as resp:
            async for line in resp.content:
                if line.strip():
                    seen.append(json.loads(line)["object"])

    task = asyncio.create_task(follow())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def written_by_operator(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in seen if (o.get("status") or {}).get("conditions")]


async def test_every_status_follows_kstatus_and_ends_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w, versions(w) as seen:
        await w.create(protected())
        await w.wait_ready()
        await w.patch_spec("hello", {"access": {"members": ["user:carol@example.com"]}})
        await w.wait_for(lambda o: o is not None and is_ready(o) and o["metadata"]["generation"] == 2)
        await w.wait_for(lambda _: any(is_ready(o) and o["metadata"]["generation"] == 2 for o in seen))
    statuses = written_by_operator(seen)
    assert statuses, "the watch saw the operator's status writes"
    for obj in statuses:
        assert kstatus_violations(obj) == [], obj["status"]
    first = statuses[0]
    assert condition(first, "Ready") == "False", "Ready=False from the very first write"
    assert kstatus(first)[0] == "InProgress"
    assert argocd_health(first)[0] == "Progressing"
    last = statuses[-1]
    assert kstatus(last)[0] == "Current"
    assert argocd_health(last)[0] == "Healthy"
    # A spec change is Progressing until the operator has caught up with the new generation.
    unseen = {**last, "metadata": {**last["metadata"], "generation": 3}}
    assert argocd_health(unseen)[0] == "Progressing"
    assert kstatus(unseen)[0] == "InProgress"


async def test_a_conflict_is_degraded_and_stalled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch, allowed_projects="other=demo-project", default_project=None) as w:
        await w.create(protected())
        obj = await w.wait_for(lambda o: condition(o, "Stalled") == "True")
        assert obj is not None
        assert kstatus_violations(obj) == []
        assert kstatus(obj)[0] == "Failed"
        health, message = argocd_health(obj)
        assert health == "Degraded"
        assert "not allowed" in message


async def test_a_missing_service_is_reported_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected(cloudRun={"service": "nowhere", "region": REGION}))
        obj = await w.wait_for(lambda o: condition(o, "Ready", "reason") == "NotFound")
        assert obj is not None
        assert kstatus_violations(obj) == []
        # Retried (the service may be deployed later): Progressing in both, with the Ready message saying why.
        assert kstatus(obj)[0] == "InProgress"
        health, message = argocd_health(obj)
        assert health == "Progressing"
        assert "nowhere" in message


async def test_protected_is_published_before_the_pass_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w, versions(w) as seen:
        # The last links of the chain take a while: Protected must not wait for them.
        w.gcp.world.latency.table[("compute", "targetHttpsProxies", "insert")] = 1.0
        w.gcp.world.latency.table[("compute", "globalForwardingRules", "insert")] = 1.0
        await w.create(protected())
        await w.wait_ready()
    early = [o for o in seen if condition(o, "Protected") == "True" and not o["status"].get("lastSyncTime")]
    assert early, "Protected=True was published mid-pass, before the pass's own status write"
    assert condition(early[0], "Ready") == "False"
    assert kstatus_violations(early[0]) == []
    assert argocd_health(early[0])[0] == "Progressing"
