"""The fault suite's run: operators as processes against both emulators as processes, killed, frozen and
started at seeded random moments while resources of every mode are created, updated and deleted.

Every operator process has its own `Tap` to the GCP emulator, so each write is attributed to the process
that sent it, on this process's clock. Low-rate 503s are injected on every GCP endpoint throughout. One
event is not random: the first `setIamPolicy` that grants the invoker on `svc-direct-0` kills the process
that sent it right after GCP applied it (the answer never arrives): the crash window issue 10 closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from tests.e2e.harness import FOREIGN, NUMBER, PROJECT, REGION, World, is_ready
from tests.e2e.processes import (
    Arrival,
    EmulatorProcesses,
    OperatorProcess,
    RemoteGcp,
    Tap,
    emulator_processes,
    start_operator,
)

from iap_operator.wiring.config import Config

GROUP, VERSION = "iap-operator.dev", "v1alpha1"
LEASE_NAME = "iap-operator-leader"
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/default/leases/{LEASE_NAME}"
LEASE_DURATION = 2.0
LEASE = (
    f"--lease-name={LEASE_NAME}",
    "--lease-namespace=default",
    f"--lease-duration={LEASE_DURATION:g}",
    "--lease-renew-deadline=1.2",
    "--lease-retry-period=0.3",
)
FAST = (
    "--poll-interval=0.2",
    "--missing-retry=0.2",
    "--backoff-base=0.05",
    "--backoff-max=0.5",
    "--gcp-retry-initial=0.05",
    "--gcp-retry-max=0.5",
    "--gcp-call-deadline=5",
)
MODES = ("lb", "bs", "direct")  # own balancer, attach to an existing backend service, Direct
MEMBERS = ["user:alice@example.com", "group:devs@example.com"]
UPDATED_MEMBERS = ["user:carol@example.com", "group:devs@example.com"]
FORCED_KILL_SERVICE = "svc-direct-0"


@dataclass(frozen=True)
class Plan:
    seed: int
    per_mode: int = 1
    events_per_phase: int = 2
    fault_rate: float = 0.05  # 503s on every GCP endpoint
    latency_scale: float = 0.05  # the emulator's realistic latencies, scaled: work to disturb
    converge_within: float = 60.0

    @property
    def names(self) -> list[tuple[str, str]]:
        return [(mode, f"{mode}-{i}") for i in range(self.per_mode) for mode in MODES]


@dataclass
class Member:
    """One operator process: its name (= Lease identity), the process, its tap."""

    name: str
    process: OperatorProcess
    tap: Tap
    frozen: bool = False
    killed: bool = False  # by the chaos (SIGKILL)
    thawed_after_takeover_at: float | None = None  # when it was thawed, if a standby had taken over


@dataclass
class Run:
    """Everything the invariants look at."""

    plan: Plan
    members: list[Member] = field(default_factory=list)
    story: list[str] = field(default_factory=list)  # what happened, for failure messages
    converged: dict[str, bool] = field(default_factory=dict)  # phase -> every object reached its goal
    checkpoints: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # phase -> objects
    compute_at: dict[str, dict[str, Any]] = field(default_factory=dict)  # phase -> compute state
    final_state: dict[str, Any] = field(default_factory=dict)
    foreign: dict[str, Any] = field(default_factory=dict)  # what someone else owns, as seeded
    thawed_exit_codes: list[int | None] = field(default_factory=list)
    forced_kill_done: bool = False

    def tell(self, what: str) -> None:
        self.story.append(f"{asyncio.get_running_loop().time():.2f} {what}")


def run_path(service: str) -> str:
    return f"v2/projects/{PROJECT}/locations/{REGION}/services/{service}"


def seed(plan: Plan) -> dict[str, Any]:
    services = [f"svc-{name}" for _, name in plan.names]
    policies: dict[str, Any] = {
        run_path(s): {"bindings": [{"role": "roles/run.invoker", "members": [FOREIGN]}]} for s in services
    }
    for mode, name in plan.names:
        if mode == "direct":
            path = f"v1/projects/{NUMBER}/iap_web/cloud_run-{REGION}/services/svc-{name}"
            policies[path] = {"bindings": [{"role": "roles/iap.httpsResourceAccessor", "members": [FOREIGN]}]}
    return {
        "projects": [
            {
                "projectId": PROJECT,
                "projectNumber": NUMBER,
                "cloudRunServices": [{"name": s, "region": REGION} for s in services],
                "iamPolicies": policies,
            }
        ],
        "dns": {"*.example.com": "auto"},  # managed certificates need the domains to resolve
    }


def body(mode: str, name: str, members: list[str], domain_suffix: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "projectId": PROJECT,
        "cloudRun": {"service": f"svc-{name}", "region": REGION},
        "access": {"members": members},
    }
    if mode == "lb":
        spec["loadBalancer"] = {"domains": [f"{name}{domain_suffix}.example.com"]}
    elif mode == "bs":
        spec["loadBalancer"] = {"backendService": {"name": f"team-{name}"}}
    else:
        spec["mode"] = "Direct"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IapProtectedService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


async def foreign_backend_services(gcp: RemoteGcp, plan: Plan) -> dict[str, Any]:
    """The platform team's NEG and backend service for each attach-mode resource, with a foreign
    accessor binding on its IAP policy."""
    made: dict[str, Any] = {}
    base = f"compute/v1/projects/{PROJECT}"
    for mode, name in plan.names:
        if mode != "bs":
            continue
        neg = {"name": f"team-neg-{name}", "networkEndpointType": "SERVERLESS"}
        neg["cloudRun"] = {"service": f"svc-{name}"}
        await gcp.call("POST", f"{base}/regions/{REGION}/networkEndpointGroups", neg)
        backend = {
            "name": f"team-{name}",
            "description": "owned by the platform team",
            "loadBalancingScheme": "EXTERNAL",
            "protocol": "HTTPS",
            "backends": [
                {"group": f"projects/{PROJECT}/regions/{REGION}/networkEndpointGroups/team-neg-{name}"}
            ],
        }
        await gcp.call("POST", f"{base}/global/backendServices", backend)
    state = await gcp.state("compute/")
    for path, resource in state.items():
        if "/backendServices/team-" in path:
            policy = {"bindings": [{"role": "roles/iap.httpsResourceAccessor", "members": [FOREIGN]}]}
            iap = f"v1/projects/{NUMBER}/iap_web/compute/services/{resource['id']}"
            await gcp.call("POST", f"{iap}:setIamPolicy", {"policy": policy})
            made[f"{iap}:iamPolicy"] = policy
        if "/team-" in path:
            made[path] = resource
    return made


class Operators:
    """The operator processes of a run: start, kill, freeze; who holds the Lease."""

    def __init__(self, world: World, tmp_path: Path, gcp_url: str, run: Run) -> None:
        self.world = world
        self.tmp_path = tmp_path
        self.gcp_url = gcp_url
        self.run = run
        self._count = 0
        self._spawned: list[asyncio.Task[Member]] = []

    @property
    def alive(self) -> list[Member]:
        return [m for m in self.run.members if m.process.alive and not m.killed]

    @property
    def healthy(self) -> list[Member]:
        """Alive, not frozen, and not a thawed leader that lost the Lease (it is on its way out)."""
        return [m for m in self.alive if not m.frozen and m.thawed_after_takeover_at is None]

    def kill(self, member: Member, why: str) -> None:
        member.process.kill()
        member.killed = True
        self.run.tell(f"killed {member.name} {why}")

    async def start(self) -> Member:
        self._count += 1
        name = f"op-{self._count}"
        tap = Tap(self.gcp_url)
        await tap.__aenter__()
        process = await start_operator(
            self.world, self.tmp_path, *LEASE, name=name, env={"POD_ID": name}, fast=FAST, gcp_url=tap.url
        )
        member = Member(name, process, tap)

        async def after(request: web.Request, arrival: Arrival) -> None:
            await self._forced_kill(member, request, arrival)

        tap.after = after
        self.run.members.append(member)
        self.run.tell(f"started {name} (pid {process.pid})")
        return member

    async def _forced_kill(self, member: Member, request: web.Request, arrival: Arrival) -> None:
        """Kill the sender of the first invoker grant on FORCED_KILL_SERVICE once GCP has applied it."""
        if self.run.forced_kill_done or request.method != "POST" or arrival.status >= 400:
            return
        if not request.path.endswith(f"/services/{FORCED_KILL_SERVICE}:setIamPolicy"):
            return
        if not request.path.startswith("/v2/"):  # the Cloud Run invoker policy, not IAP's
            return
        self.run.forced_kill_done = True
        self.kill(member, "right after GCP applied its invoker grant")
        if not self.healthy:  # in a task of its own: this request's handler ends with its client
            self._spawned.append(asyncio.create_task(self.start()))

    async def holder(self) -> str | None:
        async with self.world.session.get(self.world.kube_url + LEASE_PATH) as resp:
            if resp.status == 404:
                return None
            lease = await resp.json(content_type=None)
        return (lease.get("spec") or {}).get("holderIdentity") or None

    async def leader(self) -> Member | None:
        name = await self.holder()
        return next((m for m in self.alive if m.name == name), None)

    async def wait_holder(self, predicate: Any, within: float = 20.0) -> str | None:
        async with asyncio.timeout(within):
            while not predicate(holder := await self.holder()):  # noqa: ASYNC110 - the Lease, polled
                await asyncio.sleep(0.05)
        return holder

    async def heal(self) -> None:
        """At least one healthy operator."""
        for member in self.alive:
            if member.frozen:
                member.process.thaw()
                member.frozen = False
        if not self.healthy:
            await self.start()

    async def stop_all(self) -> None:
        await asyncio.gather(*self._spawned, return_exceptions=True)
        for member in self.run.members:
            await member.process.stop()
            await member.tap.__aexit__(None, None, None)


ACTIONS = ("kill-leader", "freeze-leader", "kill-standby", "start")


def schedule(rng: random.Random, count: int) -> list[str]:
    """The disturbances of a run, in a seeded order in which every kind comes up once every four."""
    actions: list[str] = []
    while len(actions) < count:
        batch = list(ACTIONS)
        rng.shuffle(batch)
        actions += batch
    return actions[:count]


async def chaos_event(ops: Operators, rng: random.Random, action: str) -> None:
    """One disturbance of the operator processes."""
    leader = await ops.leader()
    standbys = [m for m in ops.healthy if m is not leader]
    if action == "start" or leader is None or (action == "kill-standby" and not standbys):
        if len(ops.healthy) < 2:
            await ops.start()
        return
    if action == "kill-leader":
        ops.kill(leader, "(the leader)")
    elif action == "kill-standby":
        ops.kill(rng.choice(standbys), "(a standby)")
    else:  # freeze the leader until a standby has taken the Lease over, then thaw it
        if not standbys:
            await ops.start()
        leader.process.freeze()
        leader.frozen = True
        ops.run.tell(f"froze leader {leader.name}")
        with contextlib.suppress(TimeoutError):
            await ops.wait_holder(lambda h: h not in {None, leader.name}, within=8 * LEASE_DURATION + 10)
        await asyncio.sleep(rng.uniform(0.0, 1.0))  # the new leader gets going
        took_over = await ops.holder() != leader.name
        leader.process.thaw()
        leader.frozen = False
        if took_over:
            leader.thawed_after_takeover_at = asyncio.get_running_loop().time()
        ops.run.tell(f"thawed {leader.name} ({'after' if took_over else 'before'} a takeover)")
    if rng.random() < 0.5 and len(ops.healthy) < 2:
        await ops.start()


async def phase(
    name: str,
    ops: Operators,
    rng: random.Random,
    actions: list[str],
    goal: Any,
    world: World,
    objects: list[str],
) -> None:
    """Disturbances at random moments while the change is worked on, then heal and wait for `goal`."""
    run = ops.run

    async def reached() -> bool:
        return all([goal(await world.get(obj)) for obj in objects])

    for action in actions:
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        if await reached():
            run.tell(f"{name}: done before {action}")
            break
        await chaos_event(ops, rng, action)
    await ops.heal()
    run.tell(f"{name}: healed; waiting for convergence")
    seen: dict[str, dict[str, Any]] = {}
    try:
        for obj in objects:
            found = await world.wait_for(goal, obj, within=run.plan.converge_within)
            if found is not None:
                seen[obj] = found
        run.converged[name] = True
    except AssertionError as exc:
        run.converged[name] = False
        run.tell(f"{name}: did not converge: {exc}")
    run.checkpoints[name] = seen
    run.compute_at[name] = await world.gcp.state("compute/")


@contextlib.asynccontextmanager
async def world_of(emu: EmulatorProcesses) -> AsyncIterator[World]:
    async with aiohttp.ClientSession() as session:
        yield World(RemoteGcp(emu.gcp_url, session), emu.kube_url, session, Config())  # type: ignore[arg-type]


async def run_chaos(plan: Plan, tmp_path: Path) -> Run:
    run = Run(plan)
    rng = random.Random(plan.seed)  # reproducible chaos
    objects = [name for _, name in plan.names]
    latency = ("--latency-profile=realistic", f"--latency-scale={plan.latency_scale:g}")
    async with emulator_processes(tmp_path, seed(plan), *latency) as emu, world_of(emu) as world:
        gcp: RemoteGcp = world.gcp  # type: ignore[assignment]
        await gcp.scale_latency(0)  # what the platform team owns exists before anything starts
        run.foreign = await foreign_backend_services(gcp, plan)
        run.foreign |= {k: v for k, v in (await gcp.state()).items() if k.endswith(":iamPolicy")}
        await gcp.scale_latency(plan.latency_scale)
        await gcp.settings(**{"compute.managedCertificateSeconds": 30 * plan.latency_scale})
        if plan.fault_rate:
            await gcp.add_fault(status=503, probability=plan.fault_rate, seed=plan.seed)
        ops = Operators(world, tmp_path, gcp.url, run)
        n = plan.events_per_phase
        actions = schedule(rng, 3 * n)
        try:
            await ops.start()
            await ops.start()
            await ops.wait_holder(lambda h: h is not None, within=60)  # someone leads: work starts at once
            for mode, name in plan.names:
                await world.create(body(mode, name, MEMBERS))
            ready = lambda o: o is not None and is_ready(o)  # noqa: E731
            await phase("create", ops, rng, actions[:n], ready, world, objects)
            for mode, name in plan.names:
                spec = body(mode, name, UPDATED_MEMBERS, domain_suffix="-new")["spec"]
                await world.patch_spec(name, spec)
            await phase("update", ops, rng, actions[n : 2 * n], updated, world, objects)
            for name in objects:
                await world.delete(name)
            await phase("delete", ops, rng, actions[2 * n :], lambda o: o is None, world, objects)
            await gcp.clear_faults()
            run.final_state = await gcp.state()
        finally:
            for member in run.members:
                if member.thawed_after_takeover_at is not None and not member.killed:
                    with contextlib.suppress(TimeoutError):
                        await member.process.exited(within=20)
                    run.thawed_exit_codes.append(member.process.proc.returncode)
            await ops.stop_all()
    return run


def updated(obj: Mapping[str, Any] | None) -> bool:
    return (
        obj is not None
        and is_ready(obj)
        and sorted(obj["spec"]["access"]["members"]) == sorted(UPDATED_MEMBERS)
    )
