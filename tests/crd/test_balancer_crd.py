"""The IapLoadBalancer CRD: well-formed, structural, explainable, in step with its pydantic model."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pydantic
import pytest
import yaml
from celpy import Environment

from iap_operator import api
from iap_operator.api import balancer_v1alpha1 as lb
from iap_operator.api import patterns
from iap_operator.resources import balancer_crd_path
from iap_sandbox.emulators.kube.admission import AdmissionError, admit

from .test_crd_schema import node_at, walk

Node = dict[str, Any]


@pytest.fixture(scope="module")
def crd() -> Node:
    loaded: Node = yaml.safe_load(balancer_crd_path().read_text())
    return loaded


@pytest.fixture(scope="module")
def schema(crd: Node) -> Node:
    (version,) = crd["spec"]["versions"]
    found: Node = version["schema"]["openAPIV3Schema"]
    return found


def manifest(spec: Node, name: str = "shared") -> Node:
    return {
        "apiVersion": f"{api.GROUP}/{api.VERSION}",
        "kind": lb.KIND,
        "metadata": {"name": name, "namespace": "platform"},
        "spec": spec,
    }


def test_is_a_valid_namespaced_crd_with_status_and_columns(crd: Node) -> None:
    kubernetes_validate.validate(crd, "1.37.0", strict=True)
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{lb.PLURAL}.{api.GROUP}"
    assert spec["scope"] == "Namespaced"  # like a Gateway: docs/shared-balancer.md says why
    assert spec["names"]["kind"] == lb.KIND
    assert spec["names"]["categories"] == ["iap"]
    (version,) = spec["versions"]
    assert version["name"] == api.VERSION
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Attached"] == ".status.attachedCount"
    assert columns["Address"] == ".status.ipAddress"
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'


def test_every_field_is_described_and_the_schema_is_structural(schema: Node) -> None:
    missing = [
        path
        for path, node in walk(schema)
        if not str(node.get("description", "")).strip()
        and path != "metadata"
        and not (path.endswith("[]") and "properties" not in node)
    ]
    assert missing == []
    for path, node in walk(schema):
        assert "type" in node, f"{path}: no type"
        if node.get("type") == "array":
            assert isinstance(node.get("items"), dict), path


def test_cel_rules_compile_and_explain_themselves(schema: Node) -> None:
    env = Environment()
    rules = [(path, rule) for path, node in walk(schema) for rule in node.get("x-kubernetes-validations", [])]
    assert len(rules) == 3
    for path, rule in rules:
        env.program(env.compile(rule["rule"]))
        assert rule["message"], path
        if "fieldPath" in rule:
            assert f"{path}{rule['fieldPath']}" in dict(walk(schema)), path


def test_model_and_crd_agree_on_fields_patterns_enums_and_defaults(schema: Node) -> None:
    models: dict[str, type[Any]] = {
        "spec": lb.IapLoadBalancerSpec,
        "spec.allowedServices": lb.AllowedServices,
        "spec.allowedServices.namespaces": lb.AllowedNamespaces,
        "spec.allowedServices.namespaces.selector": lb.NamespaceSelector,
        "status": lb.IapLoadBalancerStatus,
        "status.attached[]": lb.AttachedService,
    }
    for path, model in models.items():
        aliases = {field.alias for field in model.model_fields.values()}
        assert aliases == set(node_at(schema, path)["properties"]), path
    assert node_at(schema, "spec.projectId")["pattern"] == patterns.PROJECT_ID
    assert node_at(schema, "spec.domains[]")["pattern"] == patterns.DOMAIN_PATTERN
    assert node_at(schema, "spec.address")["pattern"] == patterns.RFC1035_NAME
    assert node_at(schema, "spec.allowedServices.namespaces.from")["enum"] == [
        f.value for f in lb.FromNamespaces
    ]
    assert node_at(schema, "spec.allowedServices.namespaces.from")["default"] == "Same"
    assert node_at(schema, "spec.deletionPolicy")["enum"] == [p.value for p in api.DeletionPolicy]
    assert node_at(schema, "spec.loadBalancingScheme")["enum"] == [s.value for s in api.LoadBalancingScheme]
    limits = node_at(schema, "spec.allowedServices.namespaces.selector.matchLabels")
    assert limits["maxProperties"] == patterns.MATCH_LABELS_MAX


VALID: list[Node] = [
    {},
    {"domains": ["*.tools.example.com", "wiki.example.com"], "address": "platform-ip"},
    {"allowedServices": {"namespaces": {"from": "All"}}, "loadBalancingScheme": "EXTERNAL_MANAGED"},
    {"allowedServices": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"lb": "shared"}}}}},
    {"sslCertificates": ["wildcard-tools"], "httpsRedirect": False, "deletionPolicy": "Abandon"},
]
INVALID: list[tuple[Node, str]] = [
    ({"allowedServices": {"namespaces": {"from": "Selector"}}}, "selector is required"),
    (
        {"allowedServices": {"namespaces": {"from": "All", "selector": {"matchLabels": {"a": "b"}}}}},
        "selector is required",
    ),
    ({"domains": ["*.*.example.com"]}, "domains"),
    ({"domains": ["Tools.example.com"]}, "domains"),
    ({"allowedServices": {"namespaces": {"from": "Nowhere"}}}, "from"),
    ({"sslCertificates": []}, "sslCertificates"),
]


@pytest.mark.parametrize("spec", VALID, ids=range(len(VALID)))
def test_valid_specs_are_admitted_and_parsed(crd: Node, spec: Node) -> None:
    admitted = admit(crd, manifest(spec), None)
    parsed = lb.parse_balancer_spec(admitted["spec"])
    assert parsed == lb.parse_balancer_spec(spec)  # the CRD's defaults are the model's


@pytest.mark.parametrize(("spec", "words"), INVALID, ids=range(len(INVALID)))
def test_invalid_specs_are_refused_by_both(crd: Node, spec: Node, words: str) -> None:
    with pytest.raises(AdmissionError) as refused:
        admit(crd, manifest(spec), None)
    assert words in str(refused.value)
    with pytest.raises(pydantic.ValidationError):
        lb.parse_balancer_spec(spec)


def test_defaults_are_same_namespace_and_delete(crd: Node) -> None:
    admitted = admit(crd, manifest({"allowedServices": {"namespaces": {}}}), None)
    assert admitted["spec"]["allowedServices"]["namespaces"]["from"] == "Same"
    assert admitted["spec"]["deletionPolicy"] == "Delete"
    parsed = lb.parse_balancer_spec({})
    assert parsed.allowed_services.namespaces.from_ is lb.FromNamespaces.SAME
    assert parsed.https_redirect is True


def test_scheme_and_project_are_immutable(crd: Node) -> None:
    old = admit(crd, manifest({"projectId": "demo-project"}), None)
    for change, field in (
        ({"loadBalancingScheme": "EXTERNAL_MANAGED"}, "loadBalancingScheme"),
        ({}, "projectId"),
    ):
        new = copy.deepcopy(old)
        new["spec"] = {**({"projectId": "demo-project"} if field != "projectId" else {}), **change}
        with pytest.raises(AdmissionError) as refused:
            admit(crd, new, old)
        assert field in str(refused.value)


@pytest.mark.parametrize(
    ("host", "admitted"),
    [
        ("wiki.example.com", True),
        ("a.tools.example.com", True),
        ("a.b.tools.example.com", False),
        ("tools.example.com", False),
        ("evil.example.com", False),
    ],
)
def test_domains_admit_exact_names_and_one_label_wildcards(host: str, admitted: bool) -> None:
    spec = lb.parse_balancer_spec({"domains": ["*.tools.example.com", "wiki.example.com"]})
    assert spec.admits_host(host) is admitted
    assert lb.parse_balancer_spec({}).admits_host(host)
