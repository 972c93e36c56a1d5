"""`kubectl apply -k deploy/...` and `kubectl apply -f examples/` with kubectl's default validation.

The emulated API server holds the real server's rules (CRD validation, fieldValidation=Strict, the
OpenAPI documents kubectl reads): a CRD or a manifest a real cluster would refuse fails here.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

REPO = Path(__file__).resolve().parents[2]
Kubectl = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[KubeEmulatorHandle, Kubectl]]:
    """An empty emulated cluster (no CRD installed) and kubectl pointed at it."""
    async with serve_kube_emulator() as kube:
        config = kube.write_kubeconfig(tmp_path / "kubeconfig")
        runs = iter(range(1000))

        async def kubectl(*args: str) -> tuple[int, str, str]:
            # A fresh discovery cache per run: kubectl would not see a CRD installed by the run before.
            cache = tmp_path / f"cache-{next(runs)}"
            process = await asyncio.create_subprocess_exec(
                "kubectl", f"--kubeconfig={config}", f"--cache-dir={cache}", *args, cwd=REPO,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            async with asyncio.timeout(60):
                out, err = await process.communicate()
            return process.returncode or 0, out.decode(), err.decode()

        yield kube, kubectl


async def test_base_then_every_example(cluster: tuple[KubeEmulatorHandle, Kubectl]) -> None:
    _, kubectl = cluster
    rc, out, err = await kubectl("apply", "-k", "deploy/base")
    assert rc == 0, err
    assert (
        "customresourcedefinition.apiextensions.k8s.io/iapprotectedservices.iap-operator.dev created" in out
    )
    assert "Warning" not in err, err
    rc, _, err = await kubectl(
        "wait", "--for=condition=Established", "crd/iapprotectedservices.iap-operator.dev", "--timeout=10s"
    )
    assert rc == 0, err

    rc, out, err = await kubectl("apply", "-f", "examples/")
    assert rc == 0, err
    assert "Warning" not in err, err
    created = [line for line in out.splitlines() if line.startswith("iapprotectedservice.")]
    examples = sorted((REPO / "examples").glob("*.yaml"))
    assert len(created) >= len(examples)
    assert all(line.endswith(" created") for line in created), out

    # A second apply changes nothing. (kubectl always re-sends a PodDisruptionBudget's selector: its
    # patch strategy is `replace`, so that one reports "configured" on a real cluster as well.)
    rc, out, err = await kubectl("apply", "-k", "deploy/base")
    assert rc == 0, err
    changed = [line for line in out.splitlines() if not line.endswith(" unchanged")]
    assert changed == ["poddisruptionbudget.policy/iap-operator configured"], out


async def test_the_example_overlay(cluster: tuple[KubeEmulatorHandle, Kubectl]) -> None:
    kube, kubectl = cluster
    for namespace in ("team-a", "team-b"):
        kube.ensure_namespace(namespace)
    rc, out, err = await kubectl("apply", "-k", "deploy/overlays/example")
    assert rc == 0, err
    assert "rolebinding.rbac.authorization.k8s.io/iap-operator-secret-reader created" in out
    assert "clusterrolebinding.rbac.authorization.k8s.io/iap-operator-secret-reader" not in out


async def test_the_argocd_health_check(cluster: tuple[KubeEmulatorHandle, Kubectl]) -> None:
    kube, kubectl = cluster
    kube.ensure_namespace("argocd")
    rc, out, err = await kubectl(
        "apply", "--server-side", "--field-manager=iap-operator", "-k", "deploy/argocd"
    )
    assert rc == 0, err
    assert "configmap/argocd-cm serverside-applied" in out


async def test_a_typo_is_refused_not_pruned(
    cluster: tuple[KubeEmulatorHandle, Kubectl], tmp_path: Path
) -> None:
    _, kubectl = cluster
    rc, _, err = await kubectl("apply", "-k", "deploy/base")
    assert rc == 0, err
    manifest = tmp_path / "typo.yaml"
    text = (REPO / "examples" / "03-direct.yaml").read_text()
    assert "\n  access:" in text
    manifest.write_text(text.replace("\n  access:", "\n  acess:"))
    rc, _, err = await kubectl("apply", "-f", str(manifest))
    assert rc == 1
    assert 'strict decoding error: unknown field "spec.acess"' in err
    rc, _, err = await kubectl("apply", "--server-side", "-f", str(manifest))
    assert rc == 1
    assert ".spec.acess: field not declared in schema" in err


async def test_kubectl_explain(cluster: tuple[KubeEmulatorHandle, Kubectl]) -> None:
    _, kubectl = cluster
    rc, _, err = await kubectl("apply", "-k", "deploy/base")
    assert rc == 0, err
    rc, out, err = await kubectl("explain", "iaps.spec", "--recursive")
    assert rc == 0, err
    assert "KIND:       IapProtectedService" in out
    for field in ("access\t<Object>", "members\t<[]string>", "cloudRun\t<Object> -required-"):
        assert field in out, out
    rc, out, err = await kubectl("explain", "iaps.spec.access.members")
    assert rc == 0, err
    assert "principals not listed" in out
