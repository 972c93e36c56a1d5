"""Two shards (`--shard a --namespace team-a`, `--shard b --namespace team-b`) as real processes split a
set of resources: each resource is handled by its shard's process only, each shard holds its own Lease,
and SIGKILLing one shard delays only its own resources (the other shard's keep being handled).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.e2e.harness import GROUP, PLURAL, PROJECT, REGION, VERSION, World, is_ready, protected
from tests.e2e.processes import OperatorProcess, start_operator

from iap_sandbox.sandbox import Emulators, emulators

pytestmark = pytest.mark.timeout(240)
SHARDS = {"a": "team-a", "b": "team-b"}
NAMES = {"team-a": ("a0", "a1"), "team-b": ("b0", "b1")}
LATE = {"team-a": "a2", "team-b": "b2"}  # created while shard b is down
LEASE = ("--lease-name=iap-operator-leader", "--lease-namespace=iap-operator-system")
TIMING = (
    "--lease-duration=6",
    "--lease-renew-deadline=4",
    "--lease-retry-period=1",
)  # slack for 2 busy cores
LEASES = "/apis/coordination.k8s.io/v1/namespaces/iap-operator-system/leases"


def services() -> list[str]:
    return [n for names in NAMES.values() for n in names] + list(LATE.values())


def seed() -> dict[str, Any]:
    run = [{"name": n, "region": REGION} for n in services()]
    return {
        "projects": [{"projectId": PROJECT, "projectNumber": "123456789012", "cloudRunServices": run}],
        "dns": {"*.example.com": "auto"},
    }


def resource(namespace: str, name: str) -> dict[str, Any]:
    body = protected(
        name, cloudRun={"service": name, "region": REGION}, loadBalancer={"domains": [f"{name}.example.com"]}
    )
    body["metadata"]["namespace"] = namespace
    return body


def path(w: World, namespace: str, name: str = "") -> str:
    return f"{w.kube_url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}" + (
        f"/{name}" if name else ""
    )


async def create(w: World, namespace: str, name: str) -> None:
    async with w.session.post(path(w, namespace), json=resource(namespace, name)) as resp:
        assert resp.status == 201, await resp.text()


async def get(w: World, url: str) -> dict[str, Any] | None:
    async with w.session.get(url) as resp:
        return None if resp.status == 404 else dict(await resp.json(content_type=None))


async def wait_ready(w: World, namespace: str, name: str, within: float = 60) -> None:
    """Watch the object until it is Ready (bounded)."""
    predicate: Callable[[dict[str, Any] | None], bool] = lambda o: o is not None and is_ready(o)  # noqa: E731
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            if predicate(await get(w, path(w, namespace, name))):
                return
            changes = w._watch(path(w, namespace), f"metadata.name%3D{name}")
            async with contextlib.aclosing(changes):
                async for _, item in changes:
                    if predicate(item):
                        return
    raise AssertionError(
        f"{namespace}/{name} not Ready within {within}s: {await get(w, path(w, namespace, name))}"
    )


@contextlib.asynccontextmanager
async def shard_world(tmp_path: Path) -> AsyncIterator[tuple[World, Emulators]]:
    async with emulators(tmp_path / "kubeconfig", seed()) as emu, aiohttp.ClientSession() as session:
        for namespace in ("iap-operator-system", *SHARDS.values()):
            emu.kube.ensure_namespace(namespace)
        yield World(emu.gcp, emu.kube.url, session, emu.config()), emu


async def shard(w: World, tmp_path: Path, name: str, generation: int = 0) -> OperatorProcess:
    env = {"IAP_OPERATOR_ALLOWED_PROJECTS": f"team-*={PROJECT}", "POD_ID": f"shard-{name}-{generation}"}
    args = (f"--shard={name}", f"--namespace={SHARDS[name]}", *LEASE, *TIMING)
    return await start_operator(w, tmp_path, *args, env=env, name=f"shard-{name}-{generation}")


def handled(log: str) -> set[str]:
    """The objects a process's log shows it reconciling."""
    return set(re.findall(r"\[(team-[ab]/[ab]\d)\] reconciled:", log))


def backend_inserts(w: World) -> list[str]:
    return [r["path"] for r in w.writes() if r["method"] == "POST" and r["path"].endswith("/backendServices")]


async def test_two_shards_split_the_resources_and_a_lost_shard_delays_only_its_own(tmp_path: Path) -> None:
    async with shard_world(tmp_path) as (w, _):
        processes = {name: await shard(w, tmp_path, name) for name in SHARDS}
        try:
            for namespace, names in NAMES.items():
                for name in names:
                    await create(w, namespace, name)
            for namespace, names in NAMES.items():
                for name in names:
                    await wait_ready(w, namespace, name)
            # Each shard holds its own Lease; each resource was built once, by one process.
            for name in SHARDS:
                lease = await get(w, f"{w.kube_url}{LEASES}/iap-operator-leader-{name}")
                assert lease is not None, name
                assert lease["spec"]["holderIdentity"] == f"shard-{name}-0"
            assert len(backend_inserts(w)) == 4, backend_inserts(w)

            # Shard b is lost: team-a's new resource is still handled, team-b's waits for its shard.
            processes["b"].kill()
            await processes["b"].stop()
            await create(w, "team-b", LATE["team-b"])
            await create(w, "team-a", LATE["team-a"])
            await wait_ready(w, "team-a", LATE["team-a"])
            waiting = await get(w, path(w, "team-b", LATE["team-b"]))
            assert waiting is not None
            assert not (waiting.get("status") or {}).get("conditions"), waiting.get("status")

            processes["b"] = await shard(w, tmp_path, "b", generation=1)
            await wait_ready(w, "team-b", LATE["team-b"])
            assert len(backend_inserts(w)) == 6, backend_inserts(w)
        finally:
            for process in processes.values():
                await process.stop()
    # Each process reconciled its own namespace's resources and nothing else (the logs are complete now).
    first_b = (tmp_path / "shard-b-0.log").read_text()
    assert handled(processes["a"].output()) == {f"team-a/{n}" for n in (*NAMES["team-a"], LATE["team-a"])}
    assert handled(first_b) == {f"team-b/{n}" for n in NAMES["team-b"]}
    assert handled(processes["b"].output()) == {f"team-b/{n}" for n in (*NAMES["team-b"], LATE["team-b"])}
