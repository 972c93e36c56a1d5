"""RBAC: the operator's ServiceAccount gets exactly the grants below, nothing wider, no wildcards."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from tests.e2e.harness import RBAC_KINDS, rbac_files

from .conftest import Render

pytestmark = pytest.mark.kubectl

SA = ("iap-operator-system", "iap-operator")
CLUSTER = "*cluster*"

# (scope, apiGroup, resource) -> verbs. scope: CLUSTER or the namespace of a RoleBinding.
COMMON = {
    (CLUSTER, "iap-operator.dev", "iapprotectedservices"): {"get", "list", "watch", "patch"},
    (CLUSTER, "iap-operator.dev", "iapprotectedservices/status"): {"patch"},
    (CLUSTER, "", "events"): {"create"},
    (CLUSTER, "apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    (CLUSTER, "", "namespaces"): {"list", "watch"},
    ("iap-operator-system", "coordination.k8s.io", "leases"): {"create", "get", "update"},
}
EXPECTED = {
    "deploy/base": COMMON | {(CLUSTER, "", "secrets"): {"get"}},
    "deploy/overlays/example": COMMON
    | {("team-a", "", "secrets"): {"get"}, ("team-b", "", "secrets"): {"get"}},
}
Grants = dict[tuple[str, str, str], set[str]]


def grants_of_service_account(objects: list[dict[str, Any]]) -> Grants:
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
    grants: Grants = {}
    for binding in objects:
        if binding["kind"] not in {"RoleBinding", "ClusterRoleBinding"}:
            continue
        subjects = {
            (s.get("namespace"), s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"
        }
        if SA not in subjects:
            continue
        namespace = binding["metadata"].get("namespace")
        ref = binding["roleRef"]
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
        scope = CLUSTER if binding["kind"] == "ClusterRoleBinding" else namespace
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants.setdefault((scope, group, resource), set()).update(rule["verbs"])
    return grants


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_exact_grants(kustomize: Render, path: str) -> None:
    assert grants_of_service_account(kustomize(path)) == EXPECTED[path]


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_no_wildcards_and_no_unused_roles(kustomize: Render, path: str) -> None:
    objects = kustomize(path)
    bound = {
        (b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in objects
        if b["kind"] in {"RoleBinding", "ClusterRoleBinding"}
    }
    for role in (o for o in objects if o["kind"] in {"Role", "ClusterRole"}):
        assert (role["kind"], role["metadata"]["name"]) in bound, (
            f"{role['metadata']['name']} is bound nowhere"
        )
        assert "aggregationRule" not in role
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert not any("*" in value for value in rule.get(field, [])), rule


def test_lease_get_and_update_are_limited_to_the_one_lease(kustomize: Render) -> None:
    role = next(o for o in kustomize("deploy/base") if o["kind"] == "Role")
    for rule in role["rules"]:
        if {"get", "update"} & set(rule["verbs"]):
            assert rule["resourceNames"] == ["iap-operator-leader"]


def test_the_e2e_harness_without_kubectl_installs_the_same_rbac(kustomize: Render) -> None:
    """Where kubectl is missing, the RBAC e2e mode reads deploy/base's files: they must render alike."""
    rendered = [o for o in kustomize("deploy/base") if o["kind"] in RBAC_KINDS]
    for obj in rendered:  # kustomize's one addition (kustomization.yaml `labels`)
        labels = obj["metadata"].get("labels") or {}
        labels.pop("app.kubernetes.io/part-of", None)
        if not labels:
            obj["metadata"].pop("labels", None)

    def canonical(objects: Iterable[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(o, sort_keys=True) for o in objects)

    assert canonical(rendered) == canonical(rbac_files("deploy/base"))
