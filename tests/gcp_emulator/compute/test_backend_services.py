"""Backend services: CRUD, the `iap` block, fingerprints, references, the Cloud Run IAP rule."""

from __future__ import annotations

import hashlib
import re

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import PROJECT, REGION, SELF, Compute, reason_of

BS_PATH = f"compute/v1/projects/{PROJECT}/global/backendServices/bs-hello"


def test_insert_get_list_delete(compute: Compute) -> None:
    compute.neg()
    bs = compute.backend_service(description="hello backend", timeout_sec=45)

    assert bs.kind == "compute#backendService"
    assert bs.self_link == f"{SELF}/global/backendServices/bs-hello"
    assert re.fullmatch(r"\d+", str(bs.id))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", bs.creation_timestamp)
    assert bs.load_balancing_scheme == "EXTERNAL_MANAGED"
    assert (bs.protocol, bs.port_name, bs.timeout_sec, bs.description) == (
        "HTTP",
        "http",
        45,
        "hello backend",
    )
    assert bs.backends[0].group == f"{SELF}/regions/{REGION}/networkEndpointGroups/neg-hello"
    assert len(bs.fingerprint) == 12  # base64 of 8 bytes

    names = [b.name for b in compute.backend_services.list(project=PROJECT)]
    assert names == ["bs-hello"]

    op = compute.backend_services.delete_unary(project=PROJECT, backend_service="bs-hello")
    assert op.operation_type == "delete"
    assert op.target_link == bs.self_link
    compute.wait(op)
    with pytest.raises(exceptions.NotFound) as caught:
        compute.backend_services.get(project=PROJECT, backend_service="bs-hello")
    assert reason_of(caught.value) == "notFound"
    assert "The resource 'projects/demo-project/global/backendServices/bs-hello' was not found" in str(
        caught.value
    )


def test_iap_secret_is_write_only_and_hashed(compute: Compute, emulator: GcpEmulatorThread) -> None:
    compute.neg()
    iap = compute_v1.BackendServiceIAP(
        enabled=True, oauth2_client_id="client-1", oauth2_client_secret="s3cr3t"
    )
    bs = compute.backend_service(iap=iap)

    assert bs.iap.enabled
    assert bs.iap.oauth2_client_id == "client-1"
    assert bs.iap.oauth2_client_secret == ""
    assert bs.iap.oauth2_client_secret_sha256 == hashlib.sha256(b"s3cr3t").hexdigest()
    stored = emulator.state()[BS_PATH]
    assert "oauth2ClientSecret" not in stored["iap"]
    assert "s3cr3t" not in str(emulator.state())


def test_patch_keeps_secret_and_update_replaces(compute: Compute) -> None:
    compute.neg()
    iap = compute_v1.BackendServiceIAP(
        enabled=True, oauth2_client_id="client-1", oauth2_client_secret="s3cr3t"
    )
    bs = compute.backend_service(iap=iap)

    patch = compute_v1.BackendService(fingerprint=bs.fingerprint, description="patched")
    compute.wait(
        compute.backend_services.patch_unary(
            project=PROJECT, backend_service="bs-hello", backend_service_resource=patch
        )
    )
    patched = compute.backend_services.get(project=PROJECT, backend_service="bs-hello")
    assert patched.description == "patched"
    assert patched.iap.oauth2_client_secret_sha256 == bs.iap.oauth2_client_secret_sha256
    assert patched.fingerprint != bs.fingerprint
    assert patched.id == bs.id

    # update (PUT) replaces the resource: what is not sent falls back to defaults
    full = compute_v1.BackendService(patched)
    full.description = ""
    full.timeout_sec = 60
    compute.wait(
        compute.backend_services.update_unary(
            project=PROJECT, backend_service="bs-hello", backend_service_resource=full
        )
    )
    updated = compute.backend_services.get(project=PROJECT, backend_service="bs-hello")
    assert (updated.timeout_sec, updated.description) == (60, "")
    assert updated.iap.oauth2_client_id == "client-1"  # same client, secret hash kept
    assert updated.iap.oauth2_client_secret_sha256 == bs.iap.oauth2_client_secret_sha256


def test_custom_client_cannot_switch_back_to_google_managed(compute: Compute) -> None:
    compute.neg()
    iap = compute_v1.BackendServiceIAP(
        enabled=True, oauth2_client_id="client-1", oauth2_client_secret="s3cr3t"
    )
    bs = compute.backend_service(iap=iap)

    back = compute_v1.BackendService(bs)
    back.iap = compute_v1.BackendServiceIAP(enabled=True)
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.backend_services.update_unary(
            project=PROJECT, backend_service="bs-hello", backend_service_resource=back
        )
    assert reason_of(caught.value) == "invalid"
    assert "Google-managed" in str(caught.value)


def test_google_managed_client_is_fine_from_the_start(compute: Compute) -> None:
    compute.neg()
    bs = compute.backend_service(iap=compute_v1.BackendServiceIAP(enabled=True))
    assert bs.iap.enabled
    assert not bs.iap.oauth2_client_id


def test_new_client_needs_its_secret(compute: Compute) -> None:
    compute.neg()
    resource = compute_v1.BackendService(
        name="bs-hello",
        backends=[compute_v1.Backend(group=f"regions/{REGION}/networkEndpointGroups/neg-hello")],
        iap=compute_v1.BackendServiceIAP(enabled=True, oauth2_client_id="client-1"),
    )
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.backend_services.insert_unary(project=PROJECT, backend_service_resource=resource)
    assert reason_of(caught.value) == "invalid"


def test_fingerprint_is_required_and_enforced(compute: Compute) -> None:
    compute.neg()
    bs = compute.backend_service()

    with pytest.raises(exceptions.BadRequest) as missing:
        compute.backend_services.patch_unary(
            project=PROJECT,
            backend_service="bs-hello",
            backend_service_resource=compute_v1.BackendService(description="x"),
        )
    assert reason_of(missing.value) == "required"

    compute.wait(
        compute.backend_services.patch_unary(
            project=PROJECT,
            backend_service="bs-hello",
            backend_service_resource=compute_v1.BackendService(
                fingerprint=bs.fingerprint, description="first"
            ),
        )
    )
    with pytest.raises(exceptions.PreconditionFailed) as stale:
        compute.backend_services.patch_unary(
            project=PROJECT,
            backend_service="bs-hello",
            backend_service_resource=compute_v1.BackendService(
                fingerprint=bs.fingerprint, description="second"
            ),
        )
    assert stale.value.code == 412
    assert reason_of(stale.value) == "conditionNotMet"
    assert compute.backend_services.get(project=PROJECT, backend_service="bs-hello").description == "first"


def test_out_of_band_change_makes_the_fingerprint_stale(
    compute: Compute, emulator: GcpEmulatorThread
) -> None:
    compute.neg()
    bs = compute.backend_service()
    emulator.mutate(BS_PATH, merge={"description": "edited in the console"})

    after = compute.backend_services.get(project=PROJECT, backend_service="bs-hello")
    assert after.description == "edited in the console"
    assert after.fingerprint != bs.fingerprint
    with pytest.raises(exceptions.PreconditionFailed):
        compute.backend_services.patch_unary(
            project=PROJECT,
            backend_service="bs-hello",
            backend_service_resource=compute_v1.BackendService(
                fingerprint=bs.fingerprint, description="mine"
            ),
        )


def test_unknown_neg_is_invalid(compute: Compute) -> None:
    resource = compute_v1.BackendService(
        name="bs-hello",
        backends=[compute_v1.Backend(group=f"{SELF}/regions/{REGION}/networkEndpointGroups/nope")],
    )
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.backend_services.insert_unary(project=PROJECT, backend_service_resource=resource)
    assert reason_of(caught.value) == "invalid"
    assert "networkEndpointGroups/nope" in str(caught.value)


def test_malformed_reference_is_invalid(compute: Compute) -> None:
    resource = compute_v1.BackendService(name="bs-hello", backends=[compute_v1.Backend(group="not a url")])
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.backend_services.insert_unary(project=PROJECT, backend_service_resource=resource)
    assert reason_of(caught.value) == "invalid"


def test_iap_refused_while_cloud_run_has_iap(compute: Compute) -> None:
    compute.neg(name="neg-direct", service="direct")  # the seeded Cloud Run service `direct` has iapEnabled
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.backend_service(
            name="bs-direct", neg="neg-direct", iap=compute_v1.BackendServiceIAP(enabled=True)
        )
    assert reason_of(caught.value) == "invalid"
    assert "services/direct" in str(caught.value)

    bs = compute.backend_service(name="bs-direct", neg="neg-direct")  # without IAP it is fine
    assert not bs.iap.enabled


def test_regional_backend_services(compute: Compute) -> None:
    compute.neg()
    client = compute.region_backend_services
    resource = compute_v1.BackendService(
        name="rbs-hello",
        load_balancing_scheme="INTERNAL_MANAGED",
        protocol="HTTPS",
        backends=[compute_v1.Backend(group=f"regions/{REGION}/networkEndpointGroups/neg-hello")],
    )
    op = client.insert_unary(project=PROJECT, region=REGION, backend_service_resource=resource)
    assert op.region == f"{SELF}/regions/{REGION}"
    assert "/regions/us-central1/operations/" in op.self_link
    compute.wait(op)
    bs = client.get(project=PROJECT, region=REGION, backend_service="rbs-hello")
    assert bs.region == f"{SELF}/regions/{REGION}"
    assert bs.self_link == f"{SELF}/regions/{REGION}/backendServices/rbs-hello"

    patch = compute_v1.BackendService(fingerprint=bs.fingerprint, timeout_sec=90)
    compute.wait(
        client.patch_unary(
            project=PROJECT, region=REGION, backend_service="rbs-hello", backend_service_resource=patch
        )
    )
    assert client.get(project=PROJECT, region=REGION, backend_service="rbs-hello").timeout_sec == 90
    assert [b.name for b in client.list(project=PROJECT, region=REGION)] == ["rbs-hello"]

    compute.wait(client.delete_unary(project=PROJECT, region=REGION, backend_service="rbs-hello"))
    with pytest.raises(exceptions.NotFound):
        client.get(project=PROJECT, region=REGION, backend_service="rbs-hello")


def test_regional_backend_service_needs_a_neg_of_its_region(compute: Compute) -> None:
    compute.neg()
    resource = compute_v1.BackendService(
        name="rbs-hello",
        backends=[compute_v1.Backend(group=f"regions/{REGION}/networkEndpointGroups/neg-hello")],
    )
    with pytest.raises(exceptions.BadRequest):
        compute.region_backend_services.insert_unary(
            project=PROJECT, region="europe-west1", backend_service_resource=resource
        )


def test_in_use_by_url_map(compute: Compute) -> None:
    compute.neg()
    compute.backend_service()
    compute.url_map()
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.backend_services.delete_unary(project=PROJECT, backend_service="bs-hello")
    assert reason_of(caught.value) == "resourceInUseByAnotherResource"
    assert "'projects/demo-project/global/urlMaps/um-hello'" in str(caught.value)
