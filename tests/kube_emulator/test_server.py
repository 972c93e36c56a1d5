"""The `iap-operator kube-emulator` command and the kubeconfig helper (used by the `kubernetes` client)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import kubernetes
import yaml

from iap_operator.resources import crd_path
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, write_kubeconfig

from .conftest import WIDGET_CRD


async def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    crd_file = tmp_path / "crd.yaml"
    crd_file.write_text(yaml.safe_dump(WIDGET_CRD))
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "iap_operator",
        "kube-emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--crd",
        str(crd_file),
        "--crd",
        str(crd_path()),
        "--kubeconfig",
        str(kubeconfig),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            url = (await process.stdout.readline()).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/apis/example.com/v1/widgets") as reply,
        ):
            assert reply.status == 200
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/apis/iap-operator.dev/v1alpha1") as reply,
        ):
            assert reply.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await process.wait() == 0


async def test_kubeconfig_works_with_the_kubernetes_client(kube: KubeEmulatorHandle, tmp_path: Path) -> None:
    """The operator's own reads (Secrets, its CRD) go through the synchronous `kubernetes` client."""
    path = write_kubeconfig(tmp_path / "kubeconfig", kube.url)
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "default"},
            "data": {"k": "dg=="},
        }
    )
    client = kubernetes.config.new_client_from_config(config_file=str(path))
    core, extensions = kubernetes.client.CoreV1Api(client), kubernetes.client.ApiextensionsV1Api(client)
    secret = await asyncio.to_thread(core.read_namespaced_secret, "s", "default")
    crd = await asyncio.to_thread(extensions.read_custom_resource_definition, "widgets.example.com")
    assert secret.data == {"k": "dg=="}
    assert crd.status.accepted_names.kind == "Widget"
    assert crd.metadata.deletion_timestamp is None


async def test_cli_rbac_mode_serves_https_with_an_admin_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "iap_operator", "kube-emulator", "--port", "0", "--rbac",
        "--kubeconfig", str(kubeconfig), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            url = (await process.stdout.readline()).decode().strip()
        assert url.startswith("https://127.0.0.1:")
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["users"][0]["user"]["token"]
        client = kubernetes.config.new_client_from_config(str(kubeconfig))
        names = await asyncio.to_thread(lambda: kubernetes.client.CoreV1Api(client).list_namespace())
        assert "default" in {ns.metadata.name for ns in names.items}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/api/v1/namespaces", ssl=False) as reply,
        ):
            assert reply.status == 403  # anonymous
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await process.wait()
