"""kubectl against the emulated API: apply a CRD and objects, get, get -w, wait for a condition, delete."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml

from iap_sandbox.emulators.kube.server import KubeEmulatorHandle

from .conftest import WIDGET_CRD
from .test_crds import thing_crd

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

Kubectl = Callable[..., Awaitable[tuple[int, str, str]]]
THING = {
    "apiVersion": "other.example.com/v1",
    "kind": "Thing",
    "metadata": {"name": "t1", "namespace": "default"},
    "spec": {"size": 2},
}


W1 = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "default"}}


@asynccontextmanager
async def watching(config: Path, *args: str) -> AsyncIterator[asyncio.StreamReader]:
    """kubectl (`get ... -w`) running for the block; yields its stdout; killed afterwards."""
    watcher = await asyncio.create_subprocess_exec(
        "kubectl",
        f"--kubeconfig={config}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert watcher.stdout is not None
    try:
        yield watcher.stdout
    finally:
        watcher.kill()
        await watcher.wait()


def _write(path: Path, *docs: object) -> str:
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


@pytest.fixture
async def kubectl(kube: KubeEmulatorHandle, tmp_path: Path) -> AsyncIterator[Kubectl]:
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    processes: list[asyncio.subprocess.Process] = []

    async def run(*args: str, stdin: str | None = None, within: float = 30.0) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            "kubectl",
            f"--kubeconfig={config}",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        processes.append(process)
        async with asyncio.timeout(within):
            out, err = await process.communicate(stdin.encode() if stdin else None)
        return process.returncode or 0, out.decode(), err.decode()

    yield run
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_apply_a_crd_then_an_object_and_get_it_back(kubectl: Kubectl, tmp_path: Path) -> None:
    rc, out, err = await kubectl("apply", "-f", _write(tmp_path / "crd.yaml", thing_crd()))
    assert rc == 0, err
    assert "customresourcedefinition.apiextensions.k8s.io/things.other.example.com created" in out
    rc, out, err = await kubectl("wait", "--for=condition=Established", "crd/things.other.example.com")
    assert rc == 0, err

    manifest = _write(tmp_path / "thing.yaml", THING)
    rc, out, err = await kubectl("apply", "-f", manifest)
    assert (rc, out.strip()) == (0, "thing.other.example.com/t1 created"), err
    rc, out, err = await kubectl("get", "things", "t1", "-o", "json")
    assert rc == 0, err
    fetched = json.loads(out)
    assert fetched["spec"] == {"size": 2, "color": "blue"}  # defaulted by admission
    assert "kubectl.kubernetes.io/last-applied-configuration" in fetched["metadata"]["annotations"]

    rc, out, _ = await kubectl("apply", "-f", manifest)
    assert out.strip() == "thing.other.example.com/t1 unchanged"
    changed = _write(tmp_path / "thing2.yaml", {**THING, "spec": {"size": 4}})
    rc, out, err = await kubectl("apply", "-f", changed)
    assert (rc, out.strip()) == (0, "thing.other.example.com/t1 configured"), err
    rc, out, _ = await kubectl("get", "things", "t1", "-o", "jsonpath={.spec.size} {.metadata.generation}")
    assert out == "4 2"


async def test_server_side_apply(kubectl: Kubectl, tmp_path: Path) -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "ssa"},
        "spec": {"size": 1},
    }
    rc, out, err = await kubectl("apply", "--server-side", "-f", _write(tmp_path / "w.yaml", widget))
    assert rc == 0, err
    assert "widget.example.com/ssa serverside-applied" in out


async def test_table_output_uses_printer_columns(kubectl: Kubectl, kube: KubeEmulatorHandle) -> None:
    kube.create(W1 | {"spec": {"size": 6}})
    rc, out, err = await kubectl("get", "widgets")
    assert rc == 0, err
    header, row = out.splitlines()
    assert header.split() == ["NAME", "SIZE", "READY"]
    assert row.split() == ["w1", "6", "<none>"]


async def test_invalid_object_is_reported_by_kubectl(kubectl: Kubectl, tmp_path: Path) -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "bad"},
        "spec": {"size": 0},
    }
    rc, _, err = await kubectl("apply", "-f", _write(tmp_path / "bad.yaml", widget))
    assert rc == 1
    assert 'The Widget "bad" is invalid' in err
    assert "spec.size" in err


async def test_get_watch_sees_a_change(kubectl: Kubectl, kube: KubeEmulatorHandle, tmp_path: Path) -> None:
    kube.create(W1 | {"spec": {"size": 1}})
    watch = ("get", "widgets", "w1", "-w", "-o", "jsonpath={.spec.size}{'\\n'}")
    async with watching(tmp_path / "kubeconfig", *watch) as lines, asyncio.timeout(20):
        assert (await lines.readline()).strip() == b"1"  # the initial state
        # kubectl skips the first event of its watch (the state it already printed): change after it.
        await kube.wait_for_watchers()
        kube.patch("example.com/v1", "Widget", "w1", {"spec": {"size": 7}}, namespace="default")
        assert (await lines.readline()).strip() == b"7"  # the change, via the watch stream


async def test_wait_for_a_condition_set_by_a_test(kubectl: Kubectl, kube: KubeEmulatorHandle) -> None:
    kube.create(W1 | {"spec": {"size": 1}})
    waiting = asyncio.create_task(
        kubectl("wait", "--for=condition=Ready", "widget/w1", "--timeout=20s", within=25)
    )
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Test",
        "message": "",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }
    async with asyncio.timeout(20):
        await kube.wait_for_watchers()  # kubectl lists, then watches until the condition holds
    kube.patch_status("example.com/v1", "Widget", "w1", {"conditions": [ready]}, namespace="default")
    rc, out, err = await waiting
    assert rc == 0, err
    assert out.strip() == "widget.example.com/w1 condition met"


async def test_delete_waits_for_finalizers_and_removes(kubectl: Kubectl, kube: KubeEmulatorHandle) -> None:
    kube.create(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": "default", "finalizers": ["hold"]},
            "spec": {"size": 1},
        }
    )
    rc, out, err = await kubectl("delete", "widget", "w1", "--wait=false")
    assert (rc, out.strip()) == (0, 'widget.example.com "w1" deleted'), err
    deleting = asyncio.create_task(kubectl("delete", "widget", "w1", "--timeout=20s", within=25))
    async with asyncio.timeout(20):
        await kube.wait_for_watchers()  # kubectl watches for the deletion
    kube.patch("example.com/v1", "Widget", "w1", {"metadata": {"finalizers": []}}, namespace="default")
    rc, out, err = await deleting
    assert rc == 0, err
    rc, _, err = await kubectl("get", "widget", "w1")
    assert rc == 1
    assert 'widgets.example.com "w1" not found' in err


async def test_describe_crd_and_list_namespaces(kubectl: Kubectl) -> None:
    rc, out, err = await kubectl("get", "namespaces", "-o", "name")
    assert rc == 0, err
    assert "namespace/default" in out.split()
    rc, out, err = await kubectl(
        "get", "crd", WIDGET_CRD["metadata"]["name"], "-o", "jsonpath={.status.acceptedNames.kind}"
    )
    assert (rc, out) == (0, "Widget"), err


async def test_get_watch_table_output(kubectl: Kubectl, kube: KubeEmulatorHandle, tmp_path: Path) -> None:
    """The default `kubectl get -w` asks for Tables in the watch stream too."""
    kube.create(W1 | {"spec": {"size": 1}})
    async with watching(tmp_path / "kubeconfig", "get", "widgets", "-w") as lines, asyncio.timeout(20):
        assert (await lines.readline()).split() == [b"NAME", b"SIZE", b"READY"]
        assert (await lines.readline()).split() == [b"w1", b"1", b"<none>"]
        await kube.wait_for_watchers()
        kube.patch("example.com/v1", "Widget", "w1", {"spec": {"size": 8}}, namespace="default")
        assert (await lines.readline()).split() == [b"w1", b"8", b"<none>"]


async def test_typed_create_commands_send_protobuf(kubectl: Kubectl, kube: KubeEmulatorHandle) -> None:
    for args in (
        ("create", "namespace", "team-a"),
        ("create", "secret", "generic", "oauth", "-n", "team-a", "--from-literal=client_secret=s3cr3t"),
        ("create", "configmap", "settings", "-n", "team-a", "--from-literal=mode=Direct"),
        ("create", "serviceaccount", "robot", "-n", "team-a"),
    ):
        rc, _, err = await kubectl(*args)
        assert rc == 0, (args, err)
    secret = kube.get("v1", "Secret", "oauth", "team-a")
    config = kube.get("v1", "ConfigMap", "settings", "team-a")
    assert secret is not None
    assert config is not None
    assert secret["data"] == {"client_secret": "czNjcjN0"}
    assert secret["type"] == "Opaque"
    assert config["data"] == {"mode": "Direct"}
    assert kube.get("v1", "ServiceAccount", "robot", "team-a") is not None
