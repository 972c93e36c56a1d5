"""The Lease that keeps a single active instance, against the emulated Kubernetes API."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from iap_operator.wiring import kube
from iap_operator.wiring.kube import KubeClient
from iap_operator.wiring.leader import Lease, LeaseConfig, hold
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[KubeEmulatorHandle]:
    async with serve_kube_emulator() as handle:
        path = tmp_path / "kubeconfig"
        handle.write_kubeconfig(path)
        monkeypatch.setenv("KUBECONFIG", str(path))
        yield handle


def lease(identity: str, **kw: float) -> LeaseConfig:
    return LeaseConfig("leader", "default", identity, **kw)


async def holder(client: KubeClient) -> str | None:
    obj = await client.request("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/leader")
    return None if obj is None else obj["spec"].get("holderIdentity")


async def test_second_instance_waits_until_the_first_releases(cluster: KubeEmulatorHandle) -> None:
    client = KubeClient(kube.login())
    async with hold(client, lease("pod-a", renew=0.05)):
        assert await holder(client) == "pod-a"
        assert await Lease(client, lease("pod-b")).try_acquire() is False
        second = asyncio.create_task(hold(client, lease("pod-b", renew=0.05)).__aenter__())
        await asyncio.sleep(0.2)
        assert not second.done(), "pod-b must wait while pod-a holds the lease"
    await asyncio.wait_for(second, timeout=5)  # released on exit: pod-b gets it promptly
    assert await holder(client) == "pod-b"


async def test_an_expired_lease_is_taken_over(cluster: KubeEmulatorHandle) -> None:
    client = KubeClient(kube.login())
    stale = (
        (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5))
        .isoformat()
        .replace("+00:00", "Z")
    )
    await client.request(
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "leader", "namespace": "default"},
            "spec": {"holderIdentity": "crashed-pod", "leaseDurationSeconds": 15, "renewTime": stale},
        },
    )
    taker = Lease(client, lease("pod-b"))
    assert await taker.try_acquire() is True
    obj = await client.request("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/leader")
    assert obj is not None
    assert obj["spec"]["holderIdentity"] == "pod-b"
    assert obj["spec"]["leaseTransitions"] == 1


async def test_losing_the_lease_is_signalled(cluster: KubeEmulatorHandle) -> None:
    client = KubeClient(kube.login())
    async with hold(client, lease("pod-a", renew=0.05, duration=1)) as held:
        # Someone else overwrites the Lease: our next renewal conflicts on resourceVersion.
        obj = await client.request("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/leader")
        assert obj is not None
        obj["spec"]["holderIdentity"] = "intruder"
        await client.request("PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/leader", obj)
        await asyncio.wait_for(held.lost.wait(), timeout=5)
    assert await holder(client) == "intruder"  # a lost lease is not released over the new holder
