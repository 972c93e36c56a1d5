"""The one-file install (deploy/release/install.yaml), the components and the example overlay: current,
valid for the Kubernetes schemas, tagged with the package version, installable on an empty cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from iap_operator.wiring.config import parse_args

from .conftest import Render
from .manifests import find, operator_container, resolved_env

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (its kustomize) is not installed"),
]

K8S_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
PLACEHOLDER = "iap-operator@PROJECT_ID.iam.gserviceaccount.com"
IMAGE = "ghcr.io/iap-operator/iap-operator"
BUILT_IN_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
COMPONENTS = ("watch-namespaces", "allowed-projects", "secret-reader-per-namespace", "service-monitor")


def version(repo: Path) -> str:
    return str(tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"])


def install(repo: Path) -> list[dict[str, Any]]:
    text = (repo / "deploy" / "release" / "install.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def validate(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # no schema for the Prometheus Operator's kinds here; checked by hand below
        for version_ in K8S_VERSIONS:
            kubernetes_validate.validate(obj, version_, strict=True)


def test_install_yaml_is_the_current_render(repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(repo / "deploy" / "release" / "render.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_install_yaml_validates_and_holds_everything(repo: Path) -> None:
    objects = install(repo)
    validate(objects)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "Deployment"} <= kinds
    assert objects[0]["kind"] == "Namespace"  # kustomize orders it first: one `kubectl apply` works


def test_every_image_tag_is_the_package_version(repo: Path, kustomize: Render) -> None:
    tag = version(repo)
    assert operator_container(install(repo))["image"] == f"{IMAGE}:{tag}"
    assert operator_container(kustomize("deploy/overlays/example"))["image"].endswith(f":{tag}")
    assert operator_container(kustomize("deploy/base"))["image"] == f"iap-operator:{tag}"
    for obj in install(repo):
        assert obj["metadata"]["labels"]["app.kubernetes.io/version"] == tag, obj["metadata"]["name"]


def test_the_documented_patch_sets_the_google_service_account(repo: Path) -> None:
    """One value, one `sed`: the placeholder is the ServiceAccount's annotation and nothing else."""
    text = (repo / "deploy" / "release" / "install.yaml").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))  # not the header
    assert body.count(PLACEHOLDER) == 1
    gsa = "iap-operator@acme-platform.iam.gserviceaccount.com"
    patched = [d for d in yaml.safe_load_all(text.replace(PLACEHOLDER, gsa)) if d]
    account = find(patched, "ServiceAccount", "iap-operator")
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == gsa
    docs = (repo / "docs" / "operations.md").read_text()
    assert f"sed 's/{PLACEHOLDER}/" in docs
    assert "kubectl apply --server-side -f -" in docs


def overlay(tmp_path: Path, repo: Path, body: str) -> Path:
    folder = tmp_path / "overlay"
    folder.mkdir()
    deploy = os.path.relpath(repo / "deploy", folder)  # kustomize takes relative paths only
    (folder / "kustomization.yaml").write_text(body.replace("DEPLOY", deploy))
    return folder


def render(folder: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_every_component_renders_validates_and_reaches_the_operator(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    components = "\n".join(f"  - DEPLOY/components/{name}" for name in COMPONENTS)
    objects = render(
        overlay(
            tmp_path,
            repo,
            f"""\
resources: [DEPLOY/release]
components:
{components}
configMapGenerator:
  - name: iap-operator-settings
    namespace: iap-operator-system
    literals: ["namespaces=team-*,!team-legacy", "allowed-projects=team-*=acme-*"]
""",
        )
    )
    validate(objects)
    env = resolved_env(objects)
    assert env["IAP_OPERATOR_NAMESPACES"] == "team-*,!team-legacy"
    assert env["IAP_OPERATOR_ALLOWED_PROJECTS"] == "team-*=acme-*"
    assert "IAP_OPERATOR_DEFAULT_PROJECT" not in env  # optional key, not set: no default project
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = parse_args([])
    assert config.namespaces == ("team-*", "!team-legacy")
    assert config.settings().projects.allows("team-x", "acme-web", None)
    assert not [o for o in objects if o["kind"] == "ClusterRoleBinding" and "secret" in o["metadata"]["name"]]
    monitor = find(objects, "ServiceMonitor", "iap-operator")
    service = find(objects, "Service", "iap-operator-metrics")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}


def test_a_component_without_its_setting_fails_to_start_visibly(tmp_path: Path, repo: Path) -> None:
    """watch-namespaces without the `namespaces` key: the kubelet would refuse to start the container."""
    objects = render(
        overlay(
            tmp_path,
            repo,
            """\
resources: [DEPLOY/release]
components: [DEPLOY/components/watch-namespaces]
configMapGenerator:
  - {name: iap-operator-settings, namespace: iap-operator-system, literals: ["other=1"]}
""",
        )
    )
    with pytest.raises(AssertionError, match="key namespaces missing"):
        resolved_env(objects)


def test_the_example_overlay_applies_on_an_empty_cluster(kustomize: Render) -> None:
    objects = kustomize("deploy/overlays/example")
    validate(objects)
    created = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            namespace = obj["metadata"]["namespace"]
            assert namespace in created | BUILT_IN_NAMESPACES, f"{obj['kind']} {namespace}: no such namespace"
    roles = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for binding in (o for o in objects if o["kind"] in {"RoleBinding", "ClusterRoleBinding"}):
        ref = binding["roleRef"]
        assert (ref["kind"], ref["name"]) in roles, binding["metadata"]
    resolved_env(objects)  # every ConfigMap key the container reads is there
