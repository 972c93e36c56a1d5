"""Ownership in real life: two resources on one service, a cluster rebuilt from Git, a restore without
status, a migration between clusters (Abandon, then adopt), a resource re-created after Abandon.

Each test runs the real operator (kopf loop, real HTTP, real clients) on one GCP emulator and one or two
Kubernetes emulators in turn: a second Kubernetes emulator with the same manifests is a rebuilt cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.e2e.harness import (
    FOREIGN,
    OPERATOR_DEFAULTS,
    PROJECT,
    RUN_PATH,
    World,
    condition,
    is_ready,
    protected,
    seed,
)

from iap_operator.engine.identity import Owner
from iap_operator.engine.marks import MarkKind, parse
from iap_operator.gcp.config import SERVICES
from iap_operator.resources import crd_path
from iap_operator.wiring.config import Config
from iap_sandbox.emulators.gcp.testing import EmulatorHandle, run_gcp_emulator
from iap_sandbox.emulators.kube.server import serve_kube_emulator

pytestmark = pytest.mark.timeout(90)

ADDRESSES = f"compute/v1/projects/{PROJECT}/global/addresses/"
CERTIFICATES = f"compute/v1/projects/{PROJECT}/global/sslCertificates/"
ADOPT = "iap-operator.dev/adopt-from"
FAST = {**OPERATOR_DEFAULTS, "allowed_projects": "default=demo-project;team-b=demo-project"}


@contextlib.asynccontextmanager
async def gcp_emulator() -> AsyncIterator[EmulatorHandle]:
    async with run_gcp_emulator(seed=seed()) as gcp:
        yield gcp


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gcp: EmulatorHandle, name: str, *, cluster_name: str
) -> AsyncIterator[World]:
    """A Kubernetes cluster of its own (a fresh emulator) with the operator running as `cluster_name`."""
    kubeconfig = tmp_path / f"{name}.kubeconfig"
    async with (
        serve_kube_emulator(host="127.0.0.1", port=0, crds=[str(crd_path())]) as kube,
        aiohttp.ClientSession() as session,
    ):
        kube.write_kubeconfig(kubeconfig)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        config = Config(
            endpoints=dict.fromkeys(SERVICES, gcp.url), anonymous=True, cluster_name=cluster_name, **FAST
        )
        w = World(gcp, kube.url, session, config)
        await w.start()
        try:
            yield w
        finally:
            await w.stop()


def address_ips(w: World) -> dict[str, str]:
    return {p: r["address"] for p, r in w.gcp.state().items() if p.startswith(ADDRESSES)}


def certificates(w: World) -> set[str]:
    return {p for p in w.gcp.state() if p.startswith(CERTIFICATES)}


def claims(w: World, path: str = RUN_PATH) -> list[tuple[str, str]]:
    """(kind, holder) of every claim on a policy."""
    found = []
    for binding in w.policy(path).get("bindings", []):
        cond = binding.get("condition") or {}
        mark = parse((cond.get("title", ""), cond.get("description", ""), "")) if cond else None
        if mark is not None and mark.kind is not MarkKind.GRANT:
            found.append((str(mark.kind), mark.text))
    return found


def invokers(w: World) -> set[str]:
    """Who may invoke the service (claims grant nothing)."""
    members: set[str] = set()
    for binding in w.policy(RUN_PATH).get("bindings", []):
        cond = binding.get("condition") or {}
        mark = parse((cond.get("title", ""), cond.get("description", ""), "")) if cond else None
        if binding["role"] == "roles/run.invoker" and (mark is None or mark.kind is MarkKind.GRANT):
            members |= set(binding["members"])
    return members


COLLECTIONS = (
    "networkEndpointGroups",
    "backendServices",
    "urlMaps",
    "sslCertificates",
    "targetHttpsProxies",
    "targetHttpProxies",
    "addresses",
    "forwardingRules",
)


def creates(w: World, since: int) -> list[str]:
    """Compute inserts (a POST to a collection)."""
    return [r["path"] for r in w.writes(since) if r["method"] == "POST" and r["path"].endswith(COLLECTIONS)]


async def ready_gone(w: World, name: str = "hello") -> None:
    await w.wait_for(lambda o: o is None, name, within=40)


async def test_two_resources_on_one_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with gcp_emulator() as gcp, cluster(tmp_path, monkeypatch, gcp, "one", cluster_name="prod") as w:
        await w.create(protected("shared-a"))
        await w.wait_ready("shared-a")
        mark = len(gcp.requests())

        await w.create(protected("shared-b", loadBalancer={"domains": ["b.example.com"]}))
        obj = await w.wait_for(lambda o: condition(o, "Ready", "reason") == "ManagementConflict", "shared-b")

        assert "prod/default/shared-a" in str(condition(obj, "Ready", "message"))
        assert condition(obj, "Stalled") == "False"  # it waits for the holder to go
        assert w.writes(mark) == []
        assert claims(w) == [("claim", "prod/default/shared-a")]

        await w.delete("shared-a")
        await ready_gone(w, "shared-a")
        obj = await w.wait_ready("shared-b", within=40)  # took over, without a spec change

        assert claims(w) == [("claim", "prod/default/shared-b")]
        assert FOREIGN in invokers(w)
        assert any(m.startswith("serviceAccount:service-") for m in invokers(w))
        assert obj["status"]["url"] == "https://b.example.com"


async def test_a_rebuilt_cluster_adopts_with_zero_writes_and_keeps_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gcp_emulator() as gcp:
        async with cluster(tmp_path, monkeypatch, gcp, "old", cluster_name="prod") as w:
            await w.create(protected())
            old = await w.wait_ready()
        built, ips, certs = set(w.compute()), address_ips(w), certificates(w)
        mark = len(gcp.requests())

        # The cluster is gone; the same manifests are applied to a new one with the same cluster name.
        async with cluster(tmp_path, monkeypatch, gcp, "new", cluster_name="prod") as w:
            await w.create(protected())
            new = await w.wait_ready()

        assert new["metadata"]["uid"] != old["metadata"]["uid"]
        assert w.writes(mark) == []  # nothing changed: not one write
        assert set(w.compute()) == built
        assert address_ips(w) == ips
        assert certificates(w) == certs
        assert new["status"]["ipAddress"] == old["status"]["ipAddress"]
        assert new["status"]["owner"] == "prod/default/hello"


async def test_another_cluster_name_is_a_management_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gcp_emulator() as gcp:
        async with cluster(tmp_path, monkeypatch, gcp, "blue", cluster_name="blue") as w:
            await w.create(protected())
            await w.wait_ready()
        mark = len(gcp.requests())
        async with cluster(tmp_path, monkeypatch, gcp, "green", cluster_name="green") as w:
            await w.create(protected())
            obj = await w.wait_for(lambda o: condition(o, "Ready", "reason") == "ManagementConflict")
        assert "blue/default/hello" in str(condition(obj, "Ready", "message"))
        assert w.writes(mark) == []


async def test_a_restore_without_status_deletes_exactly_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gcp_emulator() as gcp, cluster(tmp_path, monkeypatch, gcp, "one", cluster_name="prod") as w:
        before = set(w.compute())
        await w.create(protected())
        await w.wait_ready()
        w.gcp.world.iam.put_raw(  # a foreign grant of the same member, on a policy that stays
            RUN_PATH,
            {
                "bindings": [
                    *w.policy(RUN_PATH)["bindings"],
                    {"role": "roles/run.invoker", "members": [FOREIGN]},
                ]
            },
        )
        await w.stop()
        # The namespace is lost (finalizer and all) and restored from a backup: a new object, no status.
        await strip_and_delete(w, "hello")
        await w.create(protected())
        await w.start()
        restored = await w.wait_ready()
        assert restored["status"]["owner"] == "prod/default/hello"
        await wipe_status(w, "hello")  # and once more, status lost on the live object

        await w.delete()
        await ready_gone(w)

        assert set(w.compute()) == before
        assert invokers(w) == {FOREIGN}
        assert claims(w) == []


async def test_abandon_then_adopt_in_another_cluster_keeps_address_and_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gcp_emulator() as gcp:
        async with cluster(tmp_path, monkeypatch, gcp, "blue", cluster_name="blue") as w:
            await w.create(protected())
            old = await w.wait_ready()
            await w.patch_spec("hello", {"deletionPolicy": "Abandon"})
            await w.wait_for(lambda o: o is not None and is_ready(o) and o["metadata"]["generation"] == 2)
            await w.delete()
            await ready_gone(w)
        assert claims(w) == [("released", "blue/default/hello")]
        built, ips, certs = set(w.compute()), address_ips(w), certificates(w)
        mark = len(gcp.requests())

        async with cluster(tmp_path, monkeypatch, gcp, "green", cluster_name="green") as w:
            body = protected()
            body["metadata"]["annotations"] = {ADOPT: "blue"}
            await w.create(body)
            new = await w.wait_ready()

            assert creates(w, mark) == []
            assert set(w.compute()) == built
            assert address_ips(w) == ips
            assert certificates(w) == certs
            assert new["status"]["ipAddress"] == old["status"]["ipAddress"]
            assert claims(w) == [("claim", "green/default/hello")]
            address = next(r for p, r in w.gcp.state().items() if p.startswith(ADDRESSES))
            assert address["labels"]["iap-operator-owner"] == new_owner_id("green")

            await w.delete()
            await ready_gone(w)
        assert set(w.compute()) == set()
        assert invokers(w) == {FOREIGN}
        assert claims(w) == []


async def test_recreated_with_the_same_name_after_abandon_adopts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gcp_emulator() as gcp, cluster(tmp_path, monkeypatch, gcp, "one", cluster_name="prod") as w:
        await w.create(protected(deletionPolicy="Abandon"))
        await w.wait_ready()
        await w.delete()
        await ready_gone(w)
        built, ips = set(w.compute()), address_ips(w)
        mark = len(gcp.requests())

        await w.create(protected())
        obj = await w.wait_ready()

        assert creates(w, mark) == []
        assert set(w.compute()) == built
        assert address_ips(w) == ips
        assert claims(w) == [("claim", "prod/default/hello")]
        assert obj["status"]["owner"] == "prod/default/hello"


def new_owner_id(cluster_name: str) -> str:
    return Owner(cluster_name, "default", "hello").id


async def strip_and_delete(w: World, name: str) -> None:
    headers = {"Content-Type": "application/merge-patch+json"}
    async with w.session.patch(
        w._path(name), json={"metadata": {"finalizers": None}}, headers=headers
    ) as resp:
        assert resp.status == 200, await resp.text()
    await w.delete(name)
    await ready_gone(w, name)


async def wipe_status(w: World, name: str) -> None:
    headers = {"Content-Type": "application/merge-patch+json"}
    body: Mapping[str, Any] = {
        "status": dict.fromkeys(("grants", "resources", "owner", "serviceAgent", "observedGeneration"))
    }
    async with w.session.patch(f"{w._path(name)}/status", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
