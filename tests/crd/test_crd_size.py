"""The largest valid IapProtectedService, with everything the API server stores beside the spec, fits.

kube-apiserver refuses more than 256 KiB of annotations and etcd more than 1.5 MiB per object. A spec is
stored three times over: as itself, in kubectl's last-applied-configuration annotation (Go JSON, which
escapes <, > and & to six bytes) and in kopf's last-handled-configuration annotation; managedFields
list its fields again. The CRD's bounds (maxItems, maxLength everywhere) must keep all of it within the
limits, with room left for annotations of people and other tools.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from iap_operator.api import patterns
from iap_operator.engine.conditions import Type
from iap_sandbox.emulators.kube import limits
from iap_sandbox.emulators.kube.admitting import default_admitter
from iap_sandbox.emulators.kube.cluster import Cluster
from iap_sandbox.emulators.kube.kinds import CRD_KIND

Node = dict[str, Any]

ANNOTATIONS_LEFT_FOR_OTHERS = 32 * 1024  # what people, Argo CD, Flux and other tools may still add
OBJECT_HEADROOM = 256 * 1024
KOPF_PROGRESS = ("begin", "reconcile", "delete")  # kopf's per-handler progress annotations


def go_json(value: Any) -> str:
    """json.Marshal as kubectl writes last-applied-configuration: compact, HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def at_most(schema: Node, path: str) -> int:
    node: Any = schema
    for part in path.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return int(node.get("maxLength", node.get("maxItems", 0)))


def longest_domain(i: int) -> str:
    labels = [f"d{i:03d}" + "a" * 59, "b" * 63, "c" * 63]
    head = ".".join(labels) + "."
    return head + "e" * (patterns.DOMAIN_MAX - len(head) - 4) + ".com"


def longest_member(i: int) -> str:
    local_length = patterns.MEMBER_MAX - len("user:") - len("@example.com")
    return f"user:m{i:04d}" + "a" * (local_length - 5) + "@example.com"


def largest_spec(schema: Node) -> dict[str, Any]:
    spec = schema["properties"]["spec"]
    html = "<"  # six bytes in Go JSON
    return {
        "projectId": "p" + "0" * 29,  # projectId is at most 30 characters
        "mode": "LoadBalancer",
        "cloudRun": {"service": "s" * patterns.CLOUD_RUN_SERVICE_MAX, "region": "northamerica-northeast1"},
        "loadBalancer": {
            "domains": [longest_domain(i) for i in range(at_most(spec, "loadBalancer.domains"))],
            "sslCertificates": [
                f"c{i:02d}" + "c" * 60 for i in range(at_most(spec, "loadBalancer.sslCertificates"))
            ],
            "address": "a" * patterns.RFC1035_NAME_MAX,
            "httpsRedirect": True,
            "loadBalancingScheme": "EXTERNAL_MANAGED",
        },
        "oauthClient": {
            "secretRef": {
                "name": "s" * patterns.DNS1123_SUBDOMAIN_MAX,
                "clientIdKey": "k" * patterns.SECRET_KEY_MAX,
                "clientSecretKey": "k" * patterns.SECRET_KEY_MAX,
            }
        },
        "iapSettings": {
            "accessSettings": {
                "corsSettings": {"allowHttpOptions": True},
                "reauthSettings": {
                    "method": "ENROLLED_SECOND_FACTORS",
                    "maxAge": "9" * 9 + "s",
                    "policyType": "MINIMUM",
                },
                "allowedDomainsSettings": {
                    "enable": True,
                    "domains": [
                        longest_domain(i)
                        for i in range(
                            at_most(spec, "iapSettings.accessSettings.allowedDomainsSettings.domains")
                        )
                    ],
                },
                "oauthSettings": {
                    "loginHint": longest_domain(1),
                    "programmaticClients": [
                        f"{i:030d}-" + "c" * 64 + ".apps.googleusercontent.com"
                        for i in range(
                            at_most(spec, "iapSettings.accessSettings.oauthSettings.programmaticClients")
                        )
                    ],
                },
            },
            "applicationSettings": {
                "accessDeniedPageSettings": {
                    "accessDeniedPageUri": "https://" + "u" * (patterns.URI_MAX - 8),
                    "generateTroubleshootingUri": True,
                    "remediationTokenGenerationEnabled": True,
                },
                "cookieDomain": longest_domain(0),
                "attributePropagationSettings": {
                    "enable": True,
                    "expression": html * patterns.ATTRIBUTE_EXPRESSION_MAX,
                    "outputCredentials": ["HEADER", "JWT", "RCTOKEN"],
                },
            },
        },
        "access": {
            "members": [longest_member(i) for i in range(at_most(spec, "access.members"))],
            "condition": {
                "title": html * patterns.CONDITION_TITLE_MAX,
                "description": html * patterns.CONDITION_DESCRIPTION_MAX,
                "expression": html * patterns.CONDITION_EXPRESSION_MAX,
            },
        },
        "invoker": "IapServiceAgent",
        "deletionPolicy": "Delete",
        "resyncPeriod": "1h" * (patterns.GO_DURATION_MAX // 2),
    }


def largest_status(schema: Node) -> dict[str, Any]:
    status = schema["properties"]["status"]
    types = [str(t) for t in Type] + [f"Extra{i}" for i in range(at_most(status, "conditions"))]
    conditions = [
        {
            "type": t,
            "status": "False",
            "reason": "R" * at_most(status, "conditions.[].reason"),
            "message": "m" * at_most(status, "conditions.[].message"),
            "observedGeneration": 2**62,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
        for t in types[: at_most(status, "conditions")]
    ]
    grants = status["properties"]["grants"]
    return {
        "observedGeneration": 2**62,
        "conditions": conditions,
        "url": "u" * at_most(status, "url"),
        "ipAddress": "1" * at_most(status, "ipAddress"),
        "backendService": {"name": "b" * 63, "id": "9" * 32, "region": "r" * 63},
        "jwtAudience": "j" * at_most(status, "jwtAudience"),
        "serviceAgent": "a" * at_most(status, "serviceAgent"),
        "resources": [
            {"kind": "K" * 64, "name": f"n{i:02d}" + "n" * 60, "scope": "s" * 63, "created": True}
            for i in range(at_most(status, "resources"))
        ],
        "grants": {
            "invoker": [f"i{i:02d}" + "i" * 317 for i in range(at_most(grants, "invoker"))],
            "access": [longest_member(i) for i in range(at_most(grants, "access"))],
            "accessCondition": {"title": "t" * 100, "description": "d" * 256, "expression": "<" * 4096},
        },
        "lastSyncTime": "2026-01-01T00:00:00Z",
    }


def annotations_for(body: dict[str, Any]) -> dict[str, str]:
    applied = {k: body[k] for k in ("apiVersion", "kind", "spec")}
    applied["metadata"] = {"annotations": {}, **{k: body["metadata"][k] for k in ("name", "namespace")}}
    progress = {
        "started": "2026-01-01T00:00:00.000000+00:00",
        "stopped": "2026-01-01T00:00:00.000000+00:00",
        "delayed": "2026-01-01T00:00:00.000000+00:00",
        "purpose": "update",
        "retries": 10**6,
        "success": False,
        "failure": False,
        "message": "e" * 1024,  # the handlers keep kopf's exception messages to 1 KiB
    }
    return {
        "kubectl.kubernetes.io/last-applied-configuration": go_json(applied) + "\n",
        "iap-operator.dev/last-handled-configuration": json.dumps(
            {"spec": body["spec"]}, separators=(",", ":")
        ),
        **{f"iap-operator.dev/{h}": json.dumps(progress, separators=(",", ":")) for h in KOPF_PROGRESS},
    }


def test_every_string_and_list_of_the_crd_is_bounded(schema: Node) -> None:
    def walk(node: Node, path: str) -> list[str]:
        unbounded = []
        if node.get("type") == "string" and not {"maxLength", "enum", "format"} & set(node):
            unbounded.append(path)
        if node.get("type") == "array" and "maxItems" not in node:
            unbounded.append(path)
        for name, child in (node.get("properties") or {}).items():
            if not (path == "" and name in {"apiVersion", "kind"}):
                unbounded += walk(child, f"{path}.{name}" if path else name)
        if isinstance(node.get("items"), dict):
            unbounded += walk(node["items"], f"{path}[]")
        return unbounded

    assert walk(schema, "") == []


@pytest.fixture
def stored(crd: Node, schema: Node) -> dict[str, Any]:
    """The largest object, created and given the largest status through the emulated API's own rules."""
    cluster = Cluster(admitter=default_admitter())
    cluster.create(CRD_KIND, None, crd)
    info = cluster.registry.lookup("iap-operator.dev", "v1alpha1", "iapprotectedservices")
    assert info is not None
    body: dict[str, Any] = {
        "apiVersion": "iap-operator.dev/v1alpha1",
        "kind": "IapProtectedService",
        "metadata": {"name": "n" * 253, "namespace": "default", "finalizers": ["iap-operator.dev/finalizer"]},
        "spec": largest_spec(schema),
    }
    body["metadata"]["annotations"] = annotations_for(body)
    created = cluster.create(info, "default", body)
    assert created["spec"] == body["spec"], "the largest spec is valid as it is"
    return cluster.patch(
        info, "default", "n" * 253, "application/merge-patch+json", {"status": largest_status(schema)},
        subresource="status",
    )  # fmt: skip


def test_the_largest_object_leaves_room_in_the_annotations(stored: dict[str, Any]) -> None:
    annotations = stored["metadata"]["annotations"]
    used = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    assert used + ANNOTATIONS_LEFT_FOR_OTHERS <= limits.ANNOTATIONS_LIMIT, used


def test_the_largest_object_fits_in_etcd_with_managed_fields(stored: dict[str, Any]) -> None:
    size = len(json.dumps(stored, separators=(",", ":")).encode())
    # managedFields name every field set, set-list items by value: about one more spec per field manager
    # that writes it (kubectl or Flux, then kopf and the operator for annotations and status).
    spec = len(json.dumps(stored["spec"], separators=(",", ":")).encode())
    managed = 2 * spec + 16 * 1024
    assert size + managed + OBJECT_HEADROOM <= limits.OBJECT_LIMIT, (size, managed)


def test_one_member_more_is_refused(crd: Node, schema: Node) -> None:
    cluster = Cluster(admitter=default_admitter())
    cluster.create(CRD_KIND, None, crd)
    info = cluster.registry.lookup("iap-operator.dev", "v1alpha1", "iapprotectedservices")
    assert info is not None
    spec = largest_spec(schema)
    spec["access"]["members"].append(longest_member(9999))
    body = {
        "apiVersion": "iap-operator.dev/v1alpha1",
        "kind": "IapProtectedService",
        "metadata": {"name": "x"},
    }
    with pytest.raises(Exception, match=r"spec.access.members: Too many|should have at most 200 items"):
        cluster.create(info, "default", {**body, "spec": spec})
