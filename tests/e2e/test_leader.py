"""Two `iap-operator run` processes under one Lease: a frozen leader that wakes after the standby took over
writes nothing, and a leader killed mid-pass leaves nothing the standby duplicates.

Each process reaches GCP through its own `Tap`, so every write is attributed to its sender. The moments
are events, not timers: the leader is frozen or killed from the tap, at a request of its pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from tests.e2e.harness import World, is_ready, protected, world
from tests.e2e.processes import Arrival, OperatorProcess, Tap, start_operator

from iap_operator.engine.identity import OWNER_LABEL, Owner

pytestmark = pytest.mark.timeout(120)
LEASE = (
    "--lease-name=iap-operator-leader",
    "--lease-namespace=iap-operator-system",
    "--lease-duration=2",
    "--lease-renew-deadline=1.2",
    "--lease-retry-period=0.3",
)
LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/iap-operator-system/leases/iap-operator-leader"
COLLECTIONS = {
    "networkEndpointGroups": 1,
    "backendServices": 1,
    "urlMaps": 2,
    "sslCertificates": 1,
    "targetHttpsProxies": 1,
    "targetHttpProxies": 1,
    "addresses": 1,
    "forwardingRules": 2,
}  # what one LoadBalancer resource with a redirect builds


def is_insert(method: str, path: str) -> bool:
    return method == "POST" and path.startswith("/compute/") and path.rsplit("/", 1)[-1] in COLLECTIONS


async def holder(w: World) -> str | None:
    async with w.session.get(w.kube_url + LEASE_PATH) as resp:
        if resp.status == 404:
            return None
        return ((await resp.json(content_type=None)).get("spec") or {}).get("holderIdentity") or None


async def until_holder(w: World, predicate: Callable[[str | None], bool], within: float = 60) -> None:
    async with asyncio.timeout(within):
        while not predicate(await holder(w)):  # noqa: ASYNC110 - the Lease, polled
            await asyncio.sleep(0.05)


async def operator(w: World, tmp_path: Path, tap: Tap, name: str) -> OperatorProcess:
    return await start_operator(w, tmp_path, *LEASE, name=name, env={"POD_ID": name}, gcp_url=tap.url)


@dataclass
class Pair:
    """pod-a (the leader) and pod-b (its standby), each through its own tap."""

    world: World
    a: OperatorProcess
    b: OperatorProcess
    tap_a: Tap
    tap_b: Tap


@contextlib.asynccontextmanager
async def leader_and_standby(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Pair]:
    async with (
        world(tmp_path, monkeypatch, start=False) as w,
        Tap(w.gcp.url) as tap_a,
        Tap(w.gcp.url) as tap_b,
    ):
        a = await operator(w, tmp_path, tap_a, "pod-a")
        try:
            await until_holder(w, lambda h: h == "pod-a")  # pod-a leads before pod-b exists
            b = await operator(w, tmp_path, tap_b, "pod-b")
            try:
                yield Pair(w, a, b, tap_a, tap_b)
            finally:
                await b.stop()
        finally:
            await a.stop()


def owned(w: World, owner: str) -> set[str]:
    """Names of the compute resources marked for `owner` (an owner id: docs/ownership.md)."""
    return {
        path.rsplit("/", 1)[-1]
        for path, r in w.compute().items()
        if (r.get("labels") or {}).get(OWNER_LABEL) == owner or f"(owner {owner})" in r.get("description", "")
    }


async def test_a_frozen_leader_that_wakes_after_the_takeover_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with leader_and_standby(tmp_path, monkeypatch) as pair:
        w, a, tap_a, tap_b = pair.world, pair.a, pair.tap_a, pair.tap_b
        await w.create(protected())
        await w.wait_ready(within=60)
        frozen_at: list[float] = []

        async def freeze_on_iap_policy_read(request: web.Request, arrival: Arrival) -> None:
            # pod-a has read the IAP policy it is about to edit: it stops before its setIamPolicy.
            if not frozen_at and request.path.endswith(":getIamPolicy") and "/iap_web/" in request.path:
                a.freeze()
                frozen_at.append(arrival.answered)

        tap_a.after = freeze_on_iap_policy_read
        members = ["user:carol@example.com", "group:devs@example.com"]
        await w.patch_spec("hello", {"access": {"members": members}})
        await until_holder(w, lambda h: h == "pod-b")

        def updated(o: dict[str, object] | None) -> bool:
            return o is not None and is_ready(o) and o["status"]["grants"]["access"] == sorted(members)  # type: ignore[index]

        assert await w.wait_for(updated, within=60) is not None
        b_writes = tap_b.writes()
        assert b_writes, "the standby did the work"
        thawed = asyncio.get_running_loop().time()
        a.thaw()
        assert await a.exited(within=30) == 1  # it lost the Lease and stopped
        late = [x for x in tap_a.arrivals if x.write and x.at >= frozen_at[0]]
        assert late == [], f"pod-a wrote after it was frozen: {late}"
        assert thawed > b_writes[0].at
        output = a.output()
        assert "setIamPolicy not sent: this instance is not the leader" in output, output[-3000:]


async def test_a_leader_killed_mid_pass_leaves_the_standby_nothing_to_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with leader_and_standby(tmp_path, monkeypatch) as pair:
        w, a, tap_a, tap_b = pair.world, pair.a, pair.tap_a, pair.tap_b
        inserts: list[str] = []

        async def kill_after_third_insert(request: web.Request, arrival: Arrival) -> None:
            if is_insert(request.method, request.path) and arrival.status < 300 and len(inserts) < 3:
                inserts.append(request.path)
                if len(inserts) == 3:
                    a.kill()  # the insert took effect; its answer never reaches pod-a

        tap_a.after = kill_after_third_insert
        await w.create(protected())
        obj = await w.wait_ready(within=90)
        assert len(inserts) >= 3
        owner = Owner(*obj["status"]["owner"].split("/")).id
        recorded = {r["name"] for r in obj["status"]["resources"]}
        assert owned(w, owner) == recorded  # exactly what the status accounts for: nothing twice, no stray
        per_collection: dict[str, int] = {}
        for path in w.compute():
            collection = path.split("/")[-2]
            per_collection[collection] = per_collection.get(collection, 0) + 1
        assert per_collection == COLLECTIONS
        # pod-b found what pod-a had made: no insert again into a collection of one that pod-a filled.
        by_a = {p.rsplit("/", 1)[-1] for p in inserts if COLLECTIONS[p.rsplit("/", 1)[-1]] == 1}
        again = [
            x.path
            for x in tap_b.writes()
            if is_insert(x.method, x.path) and x.path.rsplit("/", 1)[-1] in by_a
        ]
        assert again == [], f"pod-b inserted again: {again}"
