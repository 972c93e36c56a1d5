"""deploy/: both kustomizations render, every object validates, and the Deployment is hardened."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest

from iap_operator.wiring.config import parse_args

from .conftest import Render
from .manifests import find, operator_container, resolved_env

pytestmark = pytest.mark.kubectl

KUSTOMIZATIONS = ("deploy/base", "deploy/release", "deploy/overlays/example", "deploy/argocd")
# The oldest Kubernetes minor we support and the newest the schemas know.
K8S_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
NAMESPACE = "iap-operator-system"
CRD_FILES = ("iap-operator.dev_iapprotectedservices.yaml", "iap-operator.dev_iaploadbalancers.yaml")


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_validates(kustomize: Render, path: str, version: str) -> None:
    objects = kustomize(path)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("name", CRD_FILES)
def test_crd_copy_matches_crds_folder(repo: Path, name: str) -> None:
    assert sorted(p.name for p in (repo / "crds").glob("*.yaml")) == sorted(CRD_FILES)
    source = (repo / "crds" / name).read_text()
    copy = (repo / "deploy" / "base" / "crds" / name).read_text()
    assert copy == source, f"deploy/base/crds/ is stale: cp crds/{name} deploy/base/crds/"


def test_base_holds_the_crd_and_namespaced_objects_in_the_operator_namespace(kustomize: Render) -> None:
    objects = kustomize("deploy/base")
    find(objects, "CustomResourceDefinition", "iapprotectedservices.iap-operator.dev")
    find(objects, "CustomResourceDefinition", "iaploadbalancers.iap-operator.dev")
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "ServiceAccount", "Deployment", "Service", "PodDisruptionBudget"} <= kinds
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]


def test_service_account_is_annotated_for_workload_identity(kustomize: Render) -> None:
    base = find(kustomize("deploy/base"), "ServiceAccount", "iap-operator")
    example = find(kustomize("deploy/overlays/example"), "ServiceAccount", "iap-operator")
    key = "iam.gke.io/gcp-service-account"
    assert base["metadata"]["annotations"][key] == "iap-operator@PROJECT_ID.iam.gserviceaccount.com"
    assert example["metadata"]["annotations"][key] == "iap-operator@acme-platform.iam.gserviceaccount.com"


def test_deployment_runs_one_hardened_instance(kustomize: Render) -> None:
    objects = kustomize("deploy/base")
    deployment = find(objects, "Deployment", "iap-operator")
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert pod["serviceAccountName"] == "iap-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}

    container = operator_container(objects)
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert isinstance(security["runAsUser"], int)
    assert security["runAsUser"] > 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]

    (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
    assert "emptyDir" in volume


def test_probes_use_kopf_liveness_endpoint_from_args(kustomize: Render) -> None:
    container = operator_container(kustomize("deploy/base"))
    args = container["args"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in args
    assert "--metrics-port=$(IAP_OPERATOR_METRICS_PORT)" in args
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_configuration_env(kustomize: Render) -> None:
    env = {e["name"]: e for e in operator_container(kustomize("deploy/base"))["env"]}
    assert env["IAP_OPERATOR_LOG_FORMAT"]["value"] == "json"
    assert env["IAP_OPERATOR_METRICS_PORT"]["value"] == "9090"
    for name in ("IAP_OPERATOR_NAMESPACES", "IAP_OPERATOR_ALLOWED_PROJECTS", "IAP_OPERATOR_DEFAULT_PROJECT"):
        assert env[name]["value"] == ""
    assert env["IAP_OPERATOR_LEASE_NAME"]["value"] == "iap-operator-leader"
    assert env["IAP_OPERATOR_LEASE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_lease_name_matches_its_rbac(kustomize: Render) -> None:
    objects = kustomize("deploy/base")
    env = {e["name"]: e for e in operator_container(objects)["env"]}
    role = find(objects, "Role", "iap-operator-leader-election")
    named = [rule for rule in role["rules"] if "resourceNames" in rule]
    assert [rule["resourceNames"] for rule in named] == [[env["IAP_OPERATOR_LEASE_NAME"]["value"]]]


def test_example_overlay_narrows_scope_and_pins_the_image(kustomize: Render) -> None:
    objects = kustomize("deploy/overlays/example")
    container = operator_container(objects)
    env = resolved_env(objects)
    assert env["IAP_OPERATOR_NAMESPACES"] == "team-a,team-b"
    assert (
        env["IAP_OPERATOR_ALLOWED_PROJECTS"]
        == "team-a=acme-web-prod,acme-web-staging;team-b=acme-team-b-staging-*"
    )
    assert env["IAP_OPERATOR_DEFAULT_PROJECT"] == "acme-web-prod"
    assert env["IAP_OPERATOR_LOG_FORMAT"] == "json"  # the base's env survives the patch
    assert container["image"] == "registry.example.com/platform/iap-operator:0.1.0"


def test_metrics_service_and_pdb_select_the_operator_pod(kustomize: Render) -> None:
    objects = kustomize("deploy/base")
    labels = find(objects, "Deployment", "iap-operator")["spec"]["template"]["metadata"]["labels"]
    service = find(objects, "Service", "iap-operator-metrics")
    pdb = find(objects, "PodDisruptionBudget", "iap-operator")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # A single replica must never block a node drain.
    assert pdb["spec"]["maxUnavailable"] == 1


def test_argocd_config_map_carries_health_lua_verbatim(kustomize: Render, repo: Path) -> None:
    (config_map,) = kustomize("deploy/argocd")
    assert config_map["kind"] == "ConfigMap"
    assert config_map["metadata"]["name"] == "argocd-cm"
    key = "resource.customizations.health.iap-operator.dev_IapProtectedService"
    assert config_map["data"] == {key: (repo / "deploy" / "argocd" / "health.lua").read_text()}


def test_docs_name_every_flag_and_variable_the_deployment_sets(kustomize: Render, repo: Path) -> None:
    docs = (repo / "docs" / "operations.md").read_text()
    container = operator_container(kustomize("deploy/base"))
    for env in container["env"]:
        assert f"`{env['name']}`" in docs, env["name"]
    for arg in container["args"]:
        assert f"`{arg.split('=')[0]}" in docs, arg


@pytest.mark.parametrize("path", ["deploy/base", "deploy/release", "deploy/overlays/example"])
def test_the_operator_accepts_the_deployments_args_and_env(
    kustomize: Render, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = kustomize(path)
    container = operator_container(objects)
    values = resolved_env(objects)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    # Kubernetes expands $(VAR) in args from the container's env.
    args = [re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], arg) for arg in container["args"]]
    config = parse_args(args)
    assert config.liveness == "http://0.0.0.0:8080/healthz"
    assert config.metrics_port == 9090
    assert config.log_format == "json"
    assert config.namespaces == tuple(filter(None, values["IAP_OPERATOR_NAMESPACES"].split(",")))
    assert config.allowed_projects == values["IAP_OPERATOR_ALLOWED_PROJECTS"]
    config.settings()  # the allowed-projects rules parse
