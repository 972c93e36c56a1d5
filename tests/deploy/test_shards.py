"""deploy/components/two-shards (rendered by deploy/overlays/two-shards): two Deployments, one pod spec,
disjoint namespaces, one Lease each that the Role allows, selectors that keep the shards' pods apart."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.deploy.conftest import Render
from tests.deploy.manifests import find

from iap_operator.wiring.config import parse_args

OVERLAY = "deploy/overlays/two-shards"
SHARDS = {"a": "iap-operator", "b": "iap-operator-b"}


def pod_env(objects: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    """The operator container's variables as the kubelet resolves them (literals, ConfigMap keys, the
    pod's own annotations and namespace)."""
    template = deployment["spec"]["template"]
    maps = {o["metadata"]["name"]: o.get("data") or {} for o in objects if o["kind"] == "ConfigMap"}
    (container,) = template["spec"]["containers"]
    env: dict[str, str] = {}
    for item in container["env"]:
        source = item.get("valueFrom") or {}
        if "value" in item:
            env[item["name"]] = item["value"]
        elif ref := source.get("configMapKeyRef"):
            if ref["key"] in maps[ref["name"]]:
                env[item["name"]] = maps[ref["name"]][ref["key"]]
        elif path := (source.get("fieldRef") or {}).get("fieldPath"):
            if annotation := re.fullmatch(r"metadata\.annotations\['(.+)'\]", path):
                env[item["name"]] = template["metadata"]["annotations"][annotation.group(1)]
            elif path == "metadata.namespace":
                env[item["name"]] = deployment["metadata"]["namespace"]
    return env


def config_of(
    objects: list[dict[str, Any]], deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    env = pod_env(objects, deployment)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in container["args"]]
    return parse_args(args)


def test_two_deployments_run_one_pod_spec_with_apart_selectors(kustomize: Render) -> None:
    objects = kustomize(OVERLAY)
    a, b = (find(objects, "Deployment", name) for name in SHARDS.values())
    assert a["spec"]["template"]["spec"] == b["spec"]["template"]["spec"]
    for one, other in ((a, b), (b, a)):
        selector = one["spec"]["selector"]["matchLabels"]
        assert selector.items() <= one["spec"]["template"]["metadata"]["labels"].items()
        assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()
        assert one["spec"]["replicas"] == 1
        assert one["spec"]["strategy"]["type"] == "Recreate"
    service = find(objects, "Service", "iap-operator-metrics")
    for deployment in (a, b):
        assert (
            service["spec"]["selector"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for deployment in (a, b):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(p["spec"]["selector"]["matchLabels"].items() <= labels.items() for p in budgets)


def test_each_shard_has_its_namespaces_and_a_lease_the_role_allows(
    kustomize: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = kustomize(OVERLAY)
    role = find(objects, "Role", "iap-operator-leader-election")
    (named,) = [rule for rule in role["rules"] if "resourceNames" in rule]
    leases, namespaces = set(), []
    for shard, name in SHARDS.items():
        with monkeypatch.context() as m:
            config = config_of(objects, find(objects, "Deployment", name), m)
        assert config.shard == shard
        assert config.lease_name == f"iap-operator-leader-{shard}"
        leases.add(config.lease_name)
        namespaces.append(set(config.namespaces))
    assert leases == set(named["resourceNames"])
    assert not namespaces[0] & namespaces[1]
    assert all(namespaces)


def test_a_shard_without_namespaces_refuses_to_start(
    kustomize: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = kustomize(OVERLAY)
    deployment = find(objects, "Deployment", "iap-operator-b")
    deployment["spec"]["template"]["metadata"]["annotations"]["iap-operator.dev/namespaces"] = ""
    with pytest.raises(SystemExit):
        config_of(objects, deployment, monkeypatch)
