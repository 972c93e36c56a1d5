"""Crash safety: `iap-operator run` is SIGKILLed at step boundaries and in the middle of IAM writes while it
builds; a restarted process finishes; then a member is removed and everything is deleted. Afterwards no
member this operator granted is left, no foreign member is lost, nothing was built twice.

The default run kills at a few representative instants (one per kind of danger); the whole sweep (every
write boundary of every mode, and before/after GCP applied every IAM write, and a kill during deletion)
runs with IAP_E2E_KILL_SWEEP=1:

    IAP_E2E_KILL_SWEEP=1 .venv/bin/python -m pytest tests/e2e/test_crash_safety.py

Kills are chained to save process starts: the process restarted after kill i recovers resource i, then
builds resource i+1 and is killed there.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.e2e.gate import Gate, gate
from tests.e2e.harness import GROUP, NUMBER, PROJECT, REGION, VERSION, World, is_ready
from tests.e2e.processes import start_operator

from iap_operator.engine.marks import parse
from iap_sandbox.sandbox import emulators

SWEEP = os.environ.get("IAP_E2E_KILL_SWEEP") == "1"
pytestmark = pytest.mark.timeout(1800 if SWEEP else 240)

OPS = "user:ops@example.com"  # foreign invoker on every service
ALICE = "user:alice@example.com"  # ours everywhere; also granted by someone else on two policies
DEVS = "group:devs@example.com"
DOMAIN = "domain:example.com"
INVOKER = "roles/run.invoker"
ACCESSOR = "roles/iap.httpsResourceAccessor"
RUN_SET = r"/services/{name}:setIamPolicy$"
LB_IAP_SET = r"/iap_web/compute/services/\d+:setIamPolicy$"
DIRECT_IAP_SET = r"/iap_web/cloud_run-[a-z0-9-]+/services/{name}:setIamPolicy$"
LB_RESOURCES = 10  # NEG, backend service, 2 URL maps, certificate, 2 proxies, address, 2 forwarding rules


@dataclass(frozen=True)
class Kill:
    mode: str  # "lb" | "direct" | "attach"
    index: int
    label: str
    arm: Callable[[Gate, str], None]  # (gate, resource name)

    @property
    def name(self) -> str:
        return f"{self.mode}-{self.index}"


def at_boundary(n: int) -> Callable[[Gate, str], None]:
    return lambda g, _name: g.boundary(n)


def during(pattern: str, *, after: bool) -> Callable[[Gate, str], None]:
    return lambda g, name: g.during(pattern.format(name=name), after=after)


def kills() -> list[Kill]:
    if not SWEEP:
        return [
            Kill("lb", 0, "LoadBalancer: right after the claim, before any compute write", at_boundary(2)),
            Kill("lb", 1, "LoadBalancer: access grant applied, answer lost", during(LB_IAP_SET, after=True)),
            Kill("direct", 0, "Direct: access grant in flight", during(DIRECT_IAP_SET, after=False)),
            Kill("attach", 0, "attach: claim of the backend service applied", during(LB_IAP_SET, after=True)),
        ]
    plan: list[Kill] = []
    for mode, writes, iam in (
        ("lb", 16, (RUN_SET, LB_IAP_SET)),
        ("direct", 5, (RUN_SET, DIRECT_IAP_SET)),
        ("attach", 6, (RUN_SET, LB_IAP_SET)),
    ):
        for n in range(writes):
            plan.append(
                Kill(
                    mode,
                    len([k for k in plan if k.mode == mode]),
                    f"{mode}: after {n} writes",
                    at_boundary(n),
                )
            )
        for pattern in iam:
            for after in (False, True):
                label = f"{mode}: {'applied, unanswered' if after else 'in flight'} {pattern}"
                plan.append(
                    Kill(mode, len([k for k in plan if k.mode == mode]), label, during(pattern, after=after))
                )
    return plan


def manifest(kill: Kill, members: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"projectId": PROJECT, "cloudRun": {"service": kill.name, "region": REGION}}
    if kill.mode == "lb":
        spec["loadBalancer"] = {"domains": [f"{kill.name}.example.com"]}
        spec["access"] = {"members": members or [ALICE, DEVS]}
    elif kill.mode == "direct":
        spec["mode"] = "Direct"
        spec["access"] = {"members": members or [ALICE, DOMAIN]}
    else:
        spec["loadBalancer"] = {"backendService": {"name": f"{kill.name}-platform"}}
        spec["access"] = {"members": members or [ALICE, DEVS]}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IapProtectedService",
        "metadata": {"name": kill.name, "namespace": "default"},
        "spec": spec,
    }


def seed(plan: list[Kill]) -> dict[str, Any]:
    run = "v2/projects/{p}/locations/{r}/services/{s}"
    cloud_run_iap = "v1/projects/{n}/iap_web/cloud_run-{r}/services/{s}"
    policies: dict[str, Any] = {}
    for kill in plan:
        policies[run.format(p=PROJECT, r=REGION, s=kill.name)] = {
            "bindings": [{"role": INVOKER, "members": [OPS]}]
        }
        if kill.mode == "direct":  # Alice was given access by hand before the operator came
            policies[cloud_run_iap.format(n=NUMBER, r=REGION, s=kill.name)] = {
                "bindings": [{"role": ACCESSOR, "members": [ALICE]}]
            }
    return {
        "projects": [
            {
                "projectId": PROJECT,
                "projectNumber": NUMBER,
                "cloudRunServices": [{"name": k.name, "region": REGION} for k in plan],
                "iamPolicies": policies,
            }
        ],
        "dns": {"*.example.com": "auto"},  # managed certificates need the domains to resolve
    }


async def platform_balancer(w: World, kill: Kill) -> None:
    """The backend service an attach-mode resource enables IAP on, with a foreign access grant."""
    base = f"{w.gcp.url}/compute/v1/projects/{PROJECT}"
    neg = {
        "name": f"{kill.name}-neg",
        "networkEndpointType": "SERVERLESS",
        "cloudRun": {"service": kill.name},
    }
    async with w.session.post(f"{base}/regions/{REGION}/networkEndpointGroups", json=neg) as resp:
        assert resp.status == 200, await resp.text()
    backend = {
        "name": f"{kill.name}-platform",
        "loadBalancingScheme": "EXTERNAL",
        "protocol": "HTTPS",
        "backends": [{"group": f"projects/{PROJECT}/regions/{REGION}/networkEndpointGroups/{neg['name']}"}],
    }
    async with w.session.post(f"{base}/global/backendServices", json=backend) as resp:
        assert resp.status == 200, await resp.text()
    bs = w.gcp.state()[f"compute/v1/projects/{PROJECT}/global/backendServices/{backend['name']}"]
    path = f"v1/projects/{NUMBER}/iap_web/compute/services/{bs['id']}"
    w.gcp.world.iam.put_raw(path, {"bindings": [{"role": ACCESSOR, "members": [DEVS]}]})


def ours(binding: Mapping[str, Any]) -> bool:
    condition = binding.get("condition")
    return bool(condition) and parse((condition["title"], condition.get("description", ""), "")) is not None


def policies(w: World) -> dict[str, list[dict[str, Any]]]:
    return {
        path: copy.deepcopy(policy.get("bindings") or [])
        for path, policy in w.gcp.state().items()
        if path.endswith(":iamPolicy")
    }


def foreign(bindings: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((b["role"], tuple(sorted(b["members"]))) for b in bindings if not ours(b))


async def kube_patch(w: World, name: str, body: Mapping[str, Any]) -> None:
    headers = {"Content-Type": "application/merge-patch+json"}
    async with w.session.patch(w._path(name), json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def first(*waits: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(x) for x in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def crash_world(tmp_path: Path, plan: list[Kill]) -> AsyncIterator[tuple[World, Gate]]:
    async with (
        emulators(tmp_path / "kubeconfig", seed(plan)) as emu,
        aiohttp.ClientSession() as session,
        gate(emu.gcp.url) as keeper,
    ):
        yield World(emu.gcp, emu.kube.url, session, emu.config()), keeper


async def test_sigkill_anywhere_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    plan = kills()
    async with crash_world(tmp_path, plan) as (w, keeper):
        for kill in plan:
            if kill.mode == "attach":
                await platform_balancer(w, kill)
        before_compute = set(w.compute())
        seeded = {path: foreign(b) for path, b in policies(w).items()}

        operator = await start_operator(w, tmp_path, gcp_url=keeper.url, name="operator-0")
        processes = [operator]
        trips: list[str] = []
        try:
            for kill in plan:
                kill.arm(keeper, kill.name)
                await w.create(manifest(kill))
                await first(keeper.tripped.wait(), w.wait_ready(kill.name, within=120))
                if keeper.tripped.is_set():
                    trips.append(f"{kill.label}: {keeper.tripped_on}")
                    operator.kill()
                    await operator.proc.wait()
                    keeper.release()
                    operator = await start_operator(
                        w, tmp_path, gcp_url=keeper.url, name=f"operator-{len(processes)}"
                    )
                    processes.append(operator)
                else:
                    keeper.release()  # fewer writes than the boundary: nothing to kill
                await w.wait_ready(kill.name, within=120)

            # Nothing built twice, every grant in place, the foreign ones too.
            for kill in plan:
                obj = await w.wait_ready(kill.name, within=120)
                if kill.mode == "lb":
                    mine = [
                        p for p, r in w.compute().items() if f"for default/default/{kill.name} (" in str(r)
                    ]
                    assert len(mine) == LB_RESOURCES, (kill.label, sorted(mine))
                assert obj["status"]["grants"]["access"] == sorted(
                    manifest(kill)["spec"]["access"]["members"]
                )
            for path, bindings in policies(w).items():
                assert foreign(bindings) == seeded.get(path, []), path

            # A member goes from every resource: from our bindings, not from anyone else's.
            for kill in plan:
                await kube_patch(w, kill.name, {"spec": {"access": {"members": [ALICE]}}})
            for kill in plan:
                obj = await w.wait_for(
                    lambda o: o is not None and o["metadata"]["generation"] == 2 and is_ready(o),
                    kill.name,
                    within=120,
                )
                assert obj is not None
                assert obj["status"]["grants"]["access"] == [ALICE], kill.label
            for path, bindings in policies(w).items():
                assert not [b for b in bindings if ours(b) and {DEVS, DOMAIN} & set(b["members"])], path
                assert foreign(bindings) == seeded.get(path, []), path

            if SWEEP:  # and one more kill, while everything is deleted
                keeper.boundary(3)
            for kill in plan:
                await w.delete(kill.name)
            if SWEEP:
                await first(keeper.tripped.wait(), w.wait_for(lambda o: o is None, plan[-1].name, 120))
                if keeper.tripped.is_set():
                    operator.kill()
                    await operator.proc.wait()
                    keeper.release()
                    operator = await start_operator(w, tmp_path, gcp_url=keeper.url, name="operator-last")
                    processes.append(operator)
            for kill in plan:
                await w.wait_for(lambda o: o is None, kill.name, within=120)
        finally:
            for process in processes:
                await process.stop()

        assert set(w.compute()) == before_compute
        for path, bindings in policies(w).items():
            assert [b for b in bindings if ours(b)] == [], path  # 0 members left that we granted
            assert foreign(bindings) == seeded.get(path, []), path  # 0 foreign members lost
        print("\n".join(trips))  # shown with -s: where each kill fell
        if not SWEEP:
            assert len(trips) == len(plan), trips  # every representative kill happened
