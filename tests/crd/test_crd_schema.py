"""The CRD manifest itself: well-formed, structural, explainable, and in step with the pydantic model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
from celpy import Environment

from iap_operator import api
from iap_operator.api import patterns
from iap_operator.resources import crd_path
from iap_sandbox.emulators.kube.admission import admit

Node = dict[str, Any]


def walk(node: Node, path: str = "") -> Iterator[tuple[str, Node]]:
    """Every schema node with its field path (`[]` for list items)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}[*]")


def node_at(schema: Node, path: str) -> Node:
    nodes = dict(walk(schema))
    return nodes[path]


def test_crd_file_is_where_the_package_looks() -> None:
    assert crd_path().name == "iap-operator.dev_iapprotectedservices.yaml"
    assert crd_path().is_file()


def test_crd_is_a_valid_customresourcedefinition(crd: Node) -> None:
    kubernetes_validate.validate(crd, "1.37.0", strict=True)  # raises on unknown or mistyped fields


def test_names_scope_and_subresources(crd: Node) -> None:
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{api.PLURAL}.{api.GROUP}"
    assert spec["group"] == api.GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": api.KIND,
        "listKind": f"{api.KIND}List",
        "plural": api.PLURAL,
        "singular": "iapprotectedservice",
        "shortNames": ["iaps"],
        "categories": ["iap"],
    }
    (version,) = spec["versions"]
    assert version["name"] == api.VERSION
    assert version["served"]
    assert version["storage"]
    assert version["subresources"] == {"status": {}}


def test_printer_columns(crd: Node) -> None:
    (version,) = crd["spec"]["versions"]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Reason": '.status.conditions[?(@.type=="Ready")].reason',
        "Mode": ".spec.mode",
        "Address": ".status.ipAddress",
        "URL": ".status.url",
        "Age": ".metadata.creationTimestamp",
        "Message": '.status.conditions[?(@.type=="Ready")].message',
    }
    wide = {c["name"] for c in version["additionalPrinterColumns"] if c.get("priority", 0) > 0}
    assert wide == {"Message"}  # long: only with `kubectl get -o wide`


def test_every_field_has_a_description_for_kubectl_explain(schema: Node) -> None:
    missing = [
        path or "<root>" for path, node in walk(schema) if not str(node.get("description", "")).strip()
    ]
    # List items of scalars have no fields to explain; everything else must say what it is. The root
    # metadata may say nothing (the API server refuses anything but `type: object` there): kubectl
    # explain shows ObjectMeta's own documentation for it.
    missing = [
        path
        for path in missing
        if path != "metadata" and not (path.endswith("[]") and "properties" not in node_at(schema, path))
    ]
    assert missing == []
    assert schema["properties"]["metadata"] == {"type": "object"}


def test_schema_is_structural(schema: Node) -> None:
    for path, node in walk(schema):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path}: no type"
        if node.get("type") == "array":
            assert isinstance(node.get("items"), dict), f"{path}: array without items"
        assert node.get("additionalProperties") is not False, f"{path}: additionalProperties: false"
        if node.get("x-kubernetes-list-type") == "map":
            required = set(node["items"].get("required", []))
            assert set(node["x-kubernetes-list-map-keys"]) <= required, f"{path}: map keys must be required"


def test_every_cel_rule_compiles_and_explains_itself(schema: Node) -> None:
    env = Environment()
    rules = [(path, rule) for path, node in walk(schema) for rule in node.get("x-kubernetes-validations", [])]
    assert len(rules) >= 12
    for path, rule in rules:
        env.program(env.compile(rule["rule"]))
        assert rule.get("message") or rule.get("messageExpression"), f"{path}: {rule['rule']} has no message"
        if "oldSelf" in rule["rule"]:
            assert "[]" not in path, f"{path}: transition rules need a correlatable place (not in a list)"
        if "fieldPath" in rule:
            target = f"{path}{rule['fieldPath']}" if path else rule["fieldPath"].lstrip(".")
            assert target in dict(walk(schema)), f"{path}: fieldPath {rule['fieldPath']} is not in the schema"


def test_defaults_pass_their_own_schema(crd: Node, schema: Node) -> None:
    defaults = [(path, node) for path, node in walk(schema) if "default" in node]
    assert {path for path, _ in defaults} == {
        "spec.mode",
        "spec.invoker",
        "spec.deletionPolicy",
        "spec.resyncPeriod",
        "spec.oauthClient.secretRef.clientIdKey",
        "spec.oauthClient.secretRef.clientSecretKey",
    }
    for _, node in defaults:
        probe = {
            "apiVersion": "probe.test/v1",
            "kind": "Probe",
            "metadata": {"name": "probe"},
            "value": node["default"],
        }
        probe_crd = {
            "spec": {
                "group": "probe.test",
                "names": {"kind": "Probe"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"value": node}}},
                    }
                ],
            }
        }
        assert admit(probe_crd, probe, None)["value"] == node["default"]


# --- the model and the CRD say the same thing -------------------------------------------------------------

SPEC = "spec"
PATTERNS = {
    "spec.projectId": patterns.PROJECT_ID,
    "spec.cloudRun.service": patterns.CLOUD_RUN_SERVICE,
    "spec.cloudRun.region": patterns.REGION,
    "spec.loadBalancer.backendService.name": patterns.RFC1035_NAME,
    "spec.loadBalancer.backendService.region": patterns.REGION,
    "spec.loadBalancer.domains[]": patterns.DOMAIN,
    "spec.loadBalancer.sslCertificates[]": patterns.RFC1035_NAME,
    "spec.loadBalancer.address": patterns.RFC1035_NAME,
    "spec.loadBalancer.sharedRef.name": patterns.RFC1035_NAME,
    "spec.loadBalancer.sharedRef.namespace": patterns.NAMESPACE,
    "spec.loadBalancer.host": patterns.DOMAIN,
    "spec.loadBalancer.pathPrefixes[]": patterns.PATH_PREFIX,
    "spec.oauthClient.secretRef.name": patterns.DNS1123_SUBDOMAIN,
    "spec.oauthClient.secretRef.clientIdKey": patterns.SECRET_KEY,
    "spec.oauthClient.secretRef.clientSecretKey": patterns.SECRET_KEY,
    "spec.access.members[]": patterns.MEMBER,
    "spec.resyncPeriod": patterns.GO_DURATION,
}
LIMITS = {
    ("spec.cloudRun.service", "maxLength"): patterns.CLOUD_RUN_SERVICE_MAX,
    ("spec.loadBalancer.backendService.name", "maxLength"): patterns.RFC1035_NAME_MAX,
    ("spec.loadBalancer.domains", "maxItems"): patterns.DOMAINS_MAX,
    ("spec.loadBalancer.domains[]", "maxLength"): patterns.DOMAIN_MAX,
    ("spec.loadBalancer.sslCertificates", "maxItems"): patterns.SSL_CERTIFICATES_MAX,
    ("spec.loadBalancer.host", "maxLength"): patterns.DOMAIN_MAX,
    ("spec.loadBalancer.pathPrefixes", "maxItems"): patterns.PATH_PREFIXES_MAX,
    ("spec.loadBalancer.pathPrefixes[]", "maxLength"): patterns.PATH_PREFIX_MAX,
    ("spec.loadBalancer.sharedRef.namespace", "maxLength"): patterns.NAMESPACE_MAX,
    ("spec.oauthClient.secretRef.name", "maxLength"): patterns.DNS1123_SUBDOMAIN_MAX,
    ("spec.access.members", "maxItems"): patterns.MEMBERS_MAX,
    ("spec.access.members[]", "maxLength"): patterns.MEMBER_MAX,
    ("spec.access.condition.title", "maxLength"): patterns.CONDITION_TITLE_MAX,
    ("spec.access.condition.description", "maxLength"): patterns.CONDITION_DESCRIPTION_MAX,
    ("spec.access.condition.expression", "maxLength"): patterns.CONDITION_EXPRESSION_MAX,
    ("spec.resyncPeriod", "maxLength"): patterns.GO_DURATION_MAX,
}
ENUMS = {
    "spec.mode": api.Mode,
    "spec.invoker": api.Invoker,
    "spec.deletionPolicy": api.DeletionPolicy,
    "spec.loadBalancer.loadBalancingScheme": api.LoadBalancingScheme,
    "status.conditions[].status": api.ConditionStatus,
}


@pytest.mark.parametrize(("path", "pattern"), PATTERNS.items())
def test_model_and_crd_share_patterns(schema: Node, path: str, pattern: str) -> None:
    assert node_at(schema, path)["pattern"] == pattern


@pytest.mark.parametrize(("where", "limit"), LIMITS.items(), ids=str)
def test_model_and_crd_share_limits(schema: Node, where: tuple[str, str], limit: int) -> None:
    path, keyword = where
    assert node_at(schema, path)[keyword] == limit


@pytest.mark.parametrize(("path", "enum"), ENUMS.items())
def test_model_and_crd_share_enums(schema: Node, path: str, enum: type[Any]) -> None:
    assert node_at(schema, path)["enum"] == [member.value for member in enum]


def test_model_and_crd_share_defaults(schema: Node) -> None:
    fields = api.IapProtectedServiceSpec.model_fields
    for name in ("mode", "invoker", "deletion_policy", "resync_period"):
        alias = fields[name].alias
        assert alias is not None
        assert node_at(schema, f"spec.{alias}")["default"] == fields[name].default
    ref = api.SecretRef.model_fields
    for name in ("client_id_key", "client_secret_key"):
        alias = ref[name].alias
        assert alias is not None
        assert node_at(schema, f"spec.oauthClient.secretRef.{alias}")["default"] == ref[name].default


def test_model_and_crd_have_the_same_spec_fields(schema: Node) -> None:
    """Every model field is a CRD property and the other way round (by camelCase alias)."""
    models: dict[str, type[Any]] = {
        "spec": api.IapProtectedServiceSpec,
        "spec.cloudRun": api.CloudRunRef,
        "spec.loadBalancer": api.LoadBalancerSpec,
        "spec.loadBalancer.backendService": api.BackendServiceRef,
        "spec.loadBalancer.sharedRef": api.SharedRef,
        "spec.oauthClient": api.OAuthClient,
        "spec.oauthClient.secretRef": api.SecretRef,
        "spec.access": api.Access,
        "spec.access.condition": api.IamCondition,
        "status": api.IapProtectedServiceStatus,
        "status.conditions[]": api.Condition,
        "status.backendService": api.BackendServiceStatus,
        "status.resources[]": api.ResourceStatus,
        "status.grants": api.GrantsStatus,
        "status.grants.accessCondition": api.GrantedCondition,
    }
    for path, model in models.items():
        aliases = {field.alias for field in model.model_fields.values()}
        assert aliases == set(node_at(schema, path)["properties"]), path
        if path.startswith(SPEC):  # status is read leniently; spec must agree on what is required too
            required = {f.alias for f in model.model_fields.values() if f.is_required()}
            assert required == set(node_at(schema, path).get("required", [])), path


def test_member_pattern_refuses_public_principals() -> None:
    member = re.compile(patterns.MEMBER)
    assert not member.search("allUsers")
    assert not member.search("allAuthenticatedUsers")
    assert member.search("serviceAccount:ci@demo-project.iam.gserviceaccount.com")
