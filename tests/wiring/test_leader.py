"""Leader election on a Lease with client-go's semantics, against the emulated Kubernetes API.

Expiry is judged on the observer's own clock from the last change it saw; the leader's fence closes when
it has not renewed within the renew deadline, before a standby may take over. A `Tap` in front of the
API server hangs or refuses one instance's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import kopf
import pytest
import yaml
from aiohttp import web
from tests.e2e.processes import Tap

from iap_operator.wiring import kube
from iap_operator.wiring.kube import KubeClient
from iap_operator.wiring.leader import Credentials, Lease, LeaseConfig, hold
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

pytestmark = pytest.mark.timeout(30)
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
# Short, but with room for a loaded machine: renewals every 0.2 s, stop acting after 1.5 s without one.
STEADY = {"duration": 3.0, "renew_deadline": 1.5, "retry_period": 0.2}
QUICK = {"duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


@pytest.fixture
async def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[KubeEmulatorHandle]:
    async with serve_kube_emulator() as handle:
        path = tmp_path / "kubeconfig"
        handle.write_kubeconfig(path)
        monkeypatch.setenv("KUBECONFIG", str(path))
        yield handle


def lease_config(identity: str, **timing: float) -> LeaseConfig:
    return LeaseConfig("leader", "default", identity, **(timing or STEADY))


def candidate(client: KubeClient, identity: str, **options: object) -> Lease:
    timing = {k: v for k, v in options.items() if k in STEADY}
    rest = {k: v for k, v in options.items() if k not in STEADY}
    credentials = Credentials(client, login=lambda: client._info, paths=())
    return Lease(client, lease_config(identity, **timing), credentials=credentials, **rest)  # type: ignore[arg-type]


async def holder(client: KubeClient) -> str | None:
    obj = await client.request("GET", f"{LEASES}/leader")
    return None if obj is None else obj["spec"].get("holderIdentity")


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Wait (bounded) for a condition the code under test makes true."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - counters of the code under test, no event to wait on
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def leading(lease: Lease) -> AsyncIterator[asyncio.Task[None]]:
    """Acquire and keep renewing; on exit stop renewing *without* releasing (a crashed instance)."""
    await lease.acquire()
    keeper = asyncio.create_task(lease.keep())
    try:
        yield keeper
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


def test_timing_is_validated_as_client_go_does() -> None:
    with pytest.raises(ValueError, match="greater than the renew deadline"):
        LeaseConfig("l", "ns", "me", duration=10, renew_deadline=10, retry_period=2)
    with pytest.raises(ValueError, match=r"1\.2 x the retry period"):
        LeaseConfig("l", "ns", "me", duration=15, renew_deadline=2.4, retry_period=2)
    with pytest.raises(ValueError, match="identity"):
        LeaseConfig("l", "ns", "", duration=15)
    rounded = LeaseConfig("l", "ns", "me", duration=1.5, renew_deadline=1, retry_period=0.5)
    assert rounded.duration_seconds == 2


async def test_a_standby_waits_until_the_leader_releases(cluster: KubeEmulatorHandle) -> None:
    client = KubeClient(kube.login())
    async with hold(client, lease_config("pod-a")) as a:
        assert a.may_write()
        assert await holder(client) == "pod-a"
        b = candidate(client, "pod-b")
        waiting = asyncio.create_task(b.acquire())
        await until(lambda: b.attempts >= 3)
        assert not waiting.done(), "pod-b must wait while pod-a renews"
        assert not b.may_write()
    assert not a.may_write()  # released: no write may go out any more
    await asyncio.wait_for(waiting, timeout=5)  # the Lease was handed back: no need to wait it out
    assert await holder(client) == "pod-b"


@pytest.mark.parametrize("renewed", [-300.0, 3600.0], ids=["renewTime-stale", "renewTime-in-future"])
async def test_expiry_is_judged_on_the_observers_clock_from_the_last_change_it_saw(
    cluster: KubeEmulatorHandle, renewed: float
) -> None:
    """A record's renewTime means nothing to another instance: only how long it has not changed."""
    client = KubeClient(kube.login())
    stamp = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=renewed)
    spec = {
        "holderIdentity": "crashed-pod",
        "leaseDurationSeconds": 1,
        "renewTime": stamp.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "leaseTransitions": 4,
    }
    await client.request("POST", LEASES, {"metadata": {"name": "leader"}, "spec": spec})
    b = candidate(client, "pod-b", **QUICK)

    assert await b.try_acquire_or_renew() is False  # first sight: wait a full lease duration
    first_seen = b.observed_at
    await asyncio.wait_for(b.acquire(), timeout=10)
    taken = time.monotonic()

    assert taken - first_seen >= 1.0
    obj = await client.request("GET", f"{LEASES}/leader")
    assert obj is not None
    assert obj["spec"]["holderIdentity"] == "pod-b"
    assert obj["spec"]["leaseTransitions"] == 5


def skewed(hours: float) -> Callable[[], datetime.datetime]:
    return lambda: datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=hours)


@pytest.mark.parametrize(("a_skew", "b_skew"), [(-1.0, 1.0), (1.0, -1.0)], ids=["a-behind", "a-ahead"])
async def test_clock_skew_between_two_instances_neither_steals_nor_stalls(
    cluster: KubeEmulatorHandle, a_skew: float, b_skew: float
) -> None:
    client = KubeClient(kube.login())
    a = candidate(client, "pod-a", wall=skewed(a_skew))
    b = candidate(client, "pod-b", wall=skewed(b_skew))
    async with leading(a):
        standby = asyncio.create_task(b.acquire())
        await until(lambda: b.attempts >= 6)
        assert not standby.done(), "renewTimes two hours apart must not make the standby take over"
        assert a.may_write()
        last_renewal_sent = a.fence_closes_at - a.config.renew_deadline
    # pod-a stops renewing without releasing (as if killed): pod-b takes over a lease duration later.
    await asyncio.wait_for(standby, timeout=15)
    taken = time.monotonic()
    assert await holder(client) == "pod-b"
    assert taken - last_renewal_sent >= a.config.duration
    assert a.fence_closes_at <= taken, "pod-a stopped acting before pod-b took over"


class Stall:
    """A `Tap.before` hook: when set, requests to the Lease hang until the test ends."""

    def __init__(self) -> None:
        self.on = False
        self.held = 0
        self._never = asyncio.Event()

    def release(self) -> None:
        self._never.set()

    async def __call__(self, request: web.Request) -> None:
        if self.on and "/leases" in request.path:
            self.held += 1
            await self._never.wait()


def client_via(url: str) -> KubeClient:
    return KubeClient(kopf.ConnectionInfo(server=url))


async def test_a_hung_renewal_stops_the_leader_before_a_standby_may_take_over(
    cluster: KubeEmulatorHandle,
) -> None:
    stall = Stall()
    async with Tap(cluster.url) as tap:
        tap.before = stall
        a = candidate(client_via(tap.url), "pod-a")
        b = candidate(KubeClient(kube.login()), "pod-b")
        lost_at: list[float] = []
        async with leading(a) as keeper:
            watcher = asyncio.create_task(a.lost.wait())
            watcher.add_done_callback(lambda _: lost_at.append(time.monotonic()))
            standby = asyncio.create_task(b.acquire())
            await until(lambda: b.attempts >= 2)
            stall.on = True  # the API server stops answering pod-a
            await asyncio.wait_for(standby, timeout=15)
            taken = time.monotonic()
            await asyncio.wait_for(keeper, timeout=5)  # the keeper returned: no request hangs forever
            stall.release()
        assert stall.held >= 1
        assert lost_at, "the leader must say it lost the lease"
        assert lost_at[0] <= taken
        assert a.fence_closes_at <= taken
        assert not a.may_write()


class TokenCheck:
    """A `Tap.before` hook: only `Bearer <token>` gets through; anything else is 401."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.refused = 0

    async def __call__(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.refused += 1
            raise web.HTTPUnauthorized(text='{"kind":"Status","code":401,"message":"Unauthorized"}')


def write_kubeconfig(path: Path, server: str, token: str) -> None:
    """Atomically, as the kubelet swaps a projected token: a new file renamed over the old one."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
        "current-context": "x",
    }
    fresh = path.with_suffix(".new")
    fresh.write_text(yaml.safe_dump(config))
    os.replace(fresh, path)


@pytest.mark.parametrize("order", ["file-first", "server-first"])
async def test_a_rotated_token_is_read_again_and_the_leader_keeps_the_lease(
    cluster: KubeEmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    config = tmp_path / "rotating-kubeconfig"
    check = TokenCheck("token-1")
    async with Tap(cluster.url) as tap:
        tap.before = check
        write_kubeconfig(config, tap.url, "token-1")
        monkeypatch.setenv("KUBECONFIG", str(config))
        client = KubeClient(kube.login())
        a = Lease(client, lease_config("pod-a"), credentials=Credentials(client, paths=(str(config),)))
        async with leading(a):
            renewed = a.renewals
            if order == "file-first":
                write_kubeconfig(config, tap.url, "token-2")
                check.token = "token-2"
            else:  # the old token is refused before the new one is on disk: 401s until it is
                check.token = "token-2"
                await until(lambda: check.refused >= 1)
                write_kubeconfig(config, tap.url, "token-2")
            await until(lambda: a.renewals >= renewed + 3)
            assert not a.lost.is_set()
            assert a.may_write()
        assert a.credentials.logins >= 1


async def test_losing_the_lease_closes_the_fence_at_once(cluster: KubeEmulatorHandle) -> None:
    client = KubeClient(kube.login())
    async with hold(client, lease_config("pod-a")) as held:
        # Someone else overwrites the Lease: our next renewal conflicts on resourceVersion.
        obj = await client.request("GET", f"{LEASES}/leader")
        assert obj is not None
        obj["spec"]["holderIdentity"] = "intruder"
        await client.request("PUT", f"{LEASES}/leader", obj)
        await asyncio.wait_for(held.lost.wait(), timeout=5)
        assert not held.may_write()
    assert await holder(client) == "intruder"  # a lost lease is not released over the new holder
