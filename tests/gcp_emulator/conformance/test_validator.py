"""The discovery-schema validator itself: matching requests to methods, and strict checking."""

from __future__ import annotations

from typing import Any

import pytest

from iap_sandbox.emulators.gcp.conformance import DiscoveryValidator, default_validator

Validator = DiscoveryValidator


@pytest.fixture(scope="module")
def validator() -> Validator:
    return default_validator()


@pytest.mark.parametrize(
    ("method", "path", "method_id"),
    [
        ("GET", "/compute/v1/projects/p/global/backendServices/bs", "compute.backendServices.get"),
        ("PATCH", "/compute/v1/projects/p/global/backendServices/bs", "compute.backendServices.patch"),
        ("POST", "/compute/v1/projects/p/global/operations/op-1/wait", "compute.globalOperations.wait"),
        (
            "GET",
            "/compute/v1/projects/p/regions/r/networkEndpointGroups/n",
            "compute.regionNetworkEndpointGroups.get",
        ),
        ("GET", "/v2/projects/p/locations/r/services/s", "run.projects.locations.services.get"),
        ("PATCH", "/v2/projects/p/locations/r/services/s", "run.projects.locations.services.patch"),
        ("GET", "/v2/projects/p/locations/r/services", "run.projects.locations.services.list"),
        ("GET", "/v2/projects/p/locations/r/operations/o", "run.projects.locations.operations.get"),
        (
            "GET",
            "/v2/projects/p/locations/r/services/s:getIamPolicy",
            "run.projects.locations.services.getIamPolicy",
        ),
        (
            "GET",
            "/v1/projects/p/locations/r/services/s:getIamPolicy",
            "run.projects.locations.services.getIamPolicy",
        ),
        ("POST", "/v1/projects/1/iap_web/compute/services/bs:setIamPolicy", "iap.setIamPolicy"),
        ("GET", "/v1/projects/1/iap_web/cloud_run-r/services/s:iapSettings", "iap.getIapSettings"),
        ("PATCH", "/v1/projects/1/iap_web:iapSettings", "iap.updateIapSettings"),
        ("GET", "/v1/projects/1/brands", "iap.projects.brands.list"),
        (
            "POST",
            "/v1beta1/projects/p/services/iap.googleapis.com:generateServiceIdentity",
            "serviceusage.services.generateServiceIdentity",
        ),
        ("GET", "/v1beta1/operations/acat.p2-1-x", "serviceusage.operations.get"),
        ("GET", "/v1/projects/p/services/iap.googleapis.com", "serviceusage.services.get"),
        ("GET", "/v1/projects/p", "cloudresourcemanager.projects.get"),
        ("GET", "/v3/projects/p", "cloudresourcemanager.projects.get"),
        ("POST", "/v3/projects/p:testIamPermissions", "cloudresourcemanager.projects.testIamPermissions"),
    ],
)
def test_requests_map_to_their_discovery_method(
    validator: Validator, method: str, path: str, method_id: str
) -> None:
    assert method_id in {m.method_id for m in validator.match(method, path)}


SERVICE = "/v2/projects/p/locations/r/services/s"


def problems(
    validator: Validator, body: Any, path: str = SERVICE, status: int = 200, method: str = "GET"
) -> list[str]:
    return [f"{v.where}: {v.problem}" for v in validator.check(method, path, status, body)]


def test_a_conforming_body_passes(validator: Validator) -> None:
    body = {
        "name": "projects/p/locations/r/services/s",
        "generation": "3",
        "ingress": "INGRESS_TRAFFIC_ALL",
        "labels": {"team": "a"},
        "template": {"containers": [{"image": "x", "ports": [{"name": "h2c", "containerPort": 8080}]}]},
        "createTime": "2024-01-01T00:00:00.123456Z",
    }
    assert problems(validator, body) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"surprise": 1}, "$: unknown property 'surprise'"),
        ({"template": {"containers": [{"portz": []}]}}, "$.template.containers[0]: unknown property 'portz'"),
        ({"generation": 3}, "$.generation: expected a string (int64)"),
        ({"generation": "three"}, "$.generation: 'three' is not an int64"),
        ({"ingress": 1}, "$.ingress: expected a string"),
        ({"ingress": "EVERYONE"}, "$.ingress: 'EVERYONE' is not one of the enum names"),
        ({"createTime": "yesterday"}, "$.createTime: 'yesterday' is not an RFC 3339 timestamp"),
        ({"iapEnabled": "true"}, "$.iapEnabled: expected a boolean"),
        ({"labels": {"a": 1}}, "$.labels.a: expected a string"),
        ({"urls": "https://x"}, "$.urls: expected an array"),
        ({"description": None}, "$.description: null is never sent"),
        (
            {"template": {"maxInstanceRequestConcurrency": "80"}},
            "$.template.maxInstanceRequestConcurrency: expected an integer",
        ),
    ],
)
def test_schema_breaches_are_reported(validator: Validator, body: dict[str, Any], expected: str) -> None:
    found = problems(validator, body)
    assert any(p.startswith(expected) for p in found), found


def test_any_payloads_are_checked_against_their_type(validator: Validator) -> None:
    operation_path = "/v2/projects/p/locations/r/operations/o"
    good = {
        "name": "o",
        "done": True,
        "response": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", "uri": "https://x"},
    }
    assert problems(validator, good, operation_path) == []
    bad = {
        "name": "o",
        "done": True,
        "response": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", "bogus": 1},
    }
    assert problems(validator, bad, operation_path) == [
        "$.response: unknown property 'bogus' [run.projects.locations.operations.get]"
    ]
    unknown = {"name": "o", "response": {"@type": "type.googleapis.com/acme.Thing"}}
    assert "is not a type the validator knows" in problems(validator, unknown, operation_path)[0]
    untyped = {"name": "o", "metadata": {"a": 1}}
    assert "needs a string @type" in problems(validator, untyped, operation_path)[0]


def test_byte_fields_must_be_base64(validator: Validator) -> None:
    path = "/v2/projects/p/locations/r/services/s:getIamPolicy"
    assert problems(validator, {"etag": "BwX+/A=="}, path) == []
    assert "is not base64" in problems(validator, {"etag": "not base64!"}, path)[0]


def test_error_bodies_follow_googles_envelope(validator: Validator) -> None:
    good = {
        "error": {
            "code": 404,
            "message": "gone",
            "status": "NOT_FOUND",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "X",
                    "domain": "d",
                    "metadata": {"k": "v"},
                }
            ],
        }
    }
    run = "/v2/projects/p/locations/r/services/s"
    assert problems(validator, good, status=404, path=run) == []
    assert problems(validator, {"error": {"code": "404"}}, status=404, path=run)
    assert "$: unknown property 'message'" in problems(validator, {"message": "gone"}, status=404, path=run)
    legacy = {"error": {**good["error"], "errors": [{"domain": "global", "reason": "notFound"}]}}
    assert problems(validator, legacy, status=404, path=run) == [
        "$.error: 'errors' is not part of this API's errors"
    ]


def test_compute_errors_have_errors_and_no_status(validator: Validator) -> None:
    """Recorded: compute answers `{code, errors[{domain, message, reason}], message}`."""
    compute = {
        "error": {
            "code": 404,
            "errors": [{"domain": "global", "message": "gone", "reason": "notFound"}],
            "message": "gone",
        }
    }
    path = "/compute/v1/projects/p/global/backendServices/x"
    assert problems(validator, compute, status=404, path=path) == []
    with_status = {"error": {**compute["error"], "status": "NOT_FOUND"}}
    assert problems(validator, with_status, status=404, path=path) == [
        "$.error: 'status' is not part of this API's errors"
    ]


def test_unknown_routes_and_the_control_api(validator: Validator) -> None:
    assert problems(validator, {}, path="/v9/whatever") == ["$: no discovery method matches this request"]
    assert problems(validator, {"anything": 1}, path="/emulator/v1/state") == []
