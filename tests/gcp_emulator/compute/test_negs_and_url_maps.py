"""Serverless NEGs (no update) and URL maps (default service, host rules, redirects, fingerprints)."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import PROJECT, REGION, SELF, Compute, reason_of


def test_serverless_neg(compute: Compute) -> None:
    neg = compute.neg()
    assert neg.network_endpoint_type == "SERVERLESS"
    assert neg.cloud_run.service == "hello"
    assert neg.region == f"{SELF}/regions/{REGION}"
    assert neg.kind == "compute#networkEndpointGroup"
    assert [n.name for n in compute.negs.list(project=PROJECT, region=REGION)] == ["neg-hello"]
    assert list(compute.negs.list(project=PROJECT, region="europe-west1")) == []

    compute.wait(
        compute.negs.delete_unary(project=PROJECT, region=REGION, network_endpoint_group="neg-hello")
    )
    with pytest.raises(exceptions.NotFound):
        compute.negs.get(project=PROJECT, region=REGION, network_endpoint_group="neg-hello")


def test_neg_has_no_update(emulator: GcpEmulatorThread, compute: Compute) -> None:
    compute.neg()
    url = f"{emulator.url}/compute/v1/projects/{PROJECT}/regions/{REGION}/networkEndpointGroups/neg-hello"
    for method in ("PATCH", "PUT"):
        response = requests.request(method, url, json={"description": "x"}, timeout=10)
        assert response.status_code == 405
        assert response.json()["error"]["code"] == 405


def test_serverless_neg_needs_a_target(compute: Compute) -> None:
    resource = compute_v1.NetworkEndpointGroup(name="neg-x", network_endpoint_type="SERVERLESS")
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.negs.insert_unary(project=PROJECT, region=REGION, network_endpoint_group_resource=resource)
    assert reason_of(caught.value) == "invalid"


def test_neg_in_use_by_backend_service(compute: Compute) -> None:
    compute.neg()
    compute.backend_service()
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.negs.delete_unary(project=PROJECT, region=REGION, network_endpoint_group="neg-hello")
    assert reason_of(caught.value) == "resourceInUseByAnotherResource"
    assert "backendServices/bs-hello" in str(caught.value)


def test_url_map_with_host_rules(compute: Compute) -> None:
    compute.neg()
    compute.backend_service()
    compute.backend_service(name="bs-other")
    resource = compute_v1.UrlMap(
        name="um-hosts",
        default_service="global/backendServices/bs-hello",
        host_rules=[compute_v1.HostRule(hosts=["other.example.com"], path_matcher="other")],
        path_matchers=[
            compute_v1.PathMatcher(
                name="other",
                default_service="projects/demo-project/global/backendServices/bs-other",
                path_rules=[compute_v1.PathRule(paths=["/api/*"], service="bs-hello")],
            )
        ],
    )
    compute.wait(compute.url_maps.insert_unary(project=PROJECT, url_map_resource=resource))
    um = compute.url_maps.get(project=PROJECT, url_map="um-hosts")
    # recorded: a URL map's defaultService comes back as the compute/beta URL
    beta = SELF.replace("/compute/v1/", "/compute/beta/")
    assert um.default_service == f"{beta}/global/backendServices/bs-hello"
    assert um.path_matchers[0].default_service == f"{SELF}/global/backendServices/bs-other"
    assert um.path_matchers[0].path_rules[0].service == f"{SELF}/global/backendServices/bs-hello"
    assert um.host_rules[0].hosts == ["other.example.com"]

    with pytest.raises(exceptions.BadRequest) as caught:
        compute.backend_services.delete_unary(project=PROJECT, backend_service="bs-other")
    assert reason_of(caught.value) == "resourceInUseByAnotherResource"


def test_https_redirect_map(compute: Compute) -> None:
    redirect = compute_v1.HttpRedirectAction(
        https_redirect=True, redirect_response_code="MOVED_PERMANENTLY_DEFAULT"
    )
    resource = compute_v1.UrlMap(name="um-redirect", default_url_redirect=redirect)
    compute.wait(compute.url_maps.insert_unary(project=PROJECT, url_map_resource=resource))
    um = compute.url_maps.get(project=PROJECT, url_map="um-redirect")
    assert um.default_url_redirect.https_redirect
    assert um.default_url_redirect.redirect_response_code == "MOVED_PERMANENTLY_DEFAULT"
    assert not um.default_service


def test_url_map_needs_exactly_one_default(compute: Compute) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.url_maps.insert_unary(project=PROJECT, url_map_resource=compute_v1.UrlMap(name="um-empty"))
    assert reason_of(caught.value) == "invalid"


def test_url_map_unknown_service_and_matcher(compute: Compute) -> None:
    with pytest.raises(exceptions.BadRequest) as unknown:
        compute.url_map(service="missing")
    assert "backendServices/missing" in str(unknown.value)

    compute.neg()
    compute.backend_service()
    resource = compute_v1.UrlMap(
        name="um-bad",
        default_service="global/backendServices/bs-hello",
        host_rules=[compute_v1.HostRule(hosts=["a.example.com"], path_matcher="nope")],
    )
    with pytest.raises(exceptions.BadRequest) as matcher:
        compute.url_maps.insert_unary(project=PROJECT, url_map_resource=resource)
    assert "pathMatcher" in str(matcher.value)


def test_url_map_update_and_patch_with_fingerprint(compute: Compute) -> None:
    compute.neg()
    compute.backend_service()
    compute.backend_service(name="bs-other")
    um = compute.url_map()

    full = compute_v1.UrlMap(um)
    full.default_service = f"{SELF}/global/backendServices/bs-other"
    compute.wait(compute.url_maps.update_unary(project=PROJECT, url_map="um-hello", url_map_resource=full))
    updated = compute.url_maps.get(project=PROJECT, url_map="um-hello")
    assert updated.default_service.endswith("/bs-other")
    assert updated.fingerprint != um.fingerprint

    with pytest.raises(exceptions.PreconditionFailed) as stale:
        compute.url_maps.update_unary(project=PROJECT, url_map="um-hello", url_map_resource=full)
    assert reason_of(stale.value) == "conditionNotMet"

    patch = compute_v1.UrlMap(fingerprint=updated.fingerprint, description="patched")
    compute.wait(compute.url_maps.patch_unary(project=PROJECT, url_map="um-hello", url_map_resource=patch))
    patched = compute.url_maps.get(project=PROJECT, url_map="um-hello")
    assert patched.description == "patched"
    assert patched.default_service.endswith("/bs-other")


def test_url_map_in_use_by_proxy(compute: Compute) -> None:
    compute.neg()
    compute.backend_service()
    compute.url_map()
    compute.managed_certificate()
    compute.https_proxy()
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.url_maps.delete_unary(project=PROJECT, url_map="um-hello")
    assert reason_of(caught.value) == "resourceInUseByAnotherResource"
    assert "targetHttpsProxies/px-hello" in str(caught.value)
