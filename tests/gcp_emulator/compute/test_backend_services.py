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
    assert (bs.timeout_sec, bs.description, bs.session_affinity, bs.affinity_cookie_ttl_sec) == (
        45,
        "hello backend",
        "NONE",
        0,
    )
    # recorded: protocol, port and portName only when sent
    assert "protocol" not in bs
    assert "port_name" not in bs
    assert "port" not in bs
    # recorded: the iap block of a backend service whose IAP was never configured
    assert (bs.iap.enabled, bs.iap.oauth2_client_id, bs.iap.oauth2_client_secret_sha256) == (
        False,
        "",
        hashlib.sha256(b"").hexdigest(),
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


def test_going_back_to_the_google_managed_client_is_not_refused(compute: Compute) -> None:
    """No recording or Google page says GCP refuses it: the emulator does not invent the rule."""
    compute.neg()
    iap = compute_v1.BackendServiceIAP(
        enabled=True, oauth2_client_id="client-1", oauth2_client_secret="s3cr3t"
    )
    bs = compute.backend_service(iap=iap)

    back = compute_v1.BackendService(bs)
    back.iap = compute_v1.BackendServiceIAP(enabled=True, oauth2_client_id="", oauth2_client_secret="")
    compute.wait(
        compute.backend_services.update_unary(
            project=PROJECT, backend_service="bs-hello", backend_service_resource=back
        )
    )
    after = compute.backend_services.get(project=PROJECT, backend_service="bs-hello")
    assert (after.iap.oauth2_client_id, after.iap.oauth2_client_secret_sha256) == (
        "",
        hashlib.sha256(b"").hexdigest(),
    )
    assert after.iap.oauth2_client_secret == ""  # recorded: an update that sent "" shows it back


def test_google_managed_client_is_fine_from_the_start(compute: Compute) -> None:
    compute.neg()
    bs = compute.backend_service(iap=compute_v1.BackendServiceIAP(enabled=True))
    assert bs.iap.enabled
    assert not bs.iap.oauth2_client_id


def test_google_managed_client_reads_as_the_empty_secret_hash(compute: Compute) -> None:
    compute.neg()
    bs = compute.backend_service(iap=compute_v1.BackendServiceIAP(enabled=True))
    assert (bs.iap.enabled, bs.iap.oauth2_client_id) == (True, "")
    assert bs.iap.oauth2_client_secret_sha256 == hashlib.sha256(b"").hexdigest()


def test_fingerprint_is_optional_but_enforced(compute: Compute) -> None:
    """Recorded: writes without a fingerprint succeed; the discovery document: a stale one is 412."""
    compute.neg()
    bs = compute.backend_service()

    compute.wait(
        compute.backend_services.patch_unary(
            project=PROJECT,
            backend_service="bs-hello",
            backend_service_resource=compute_v1.BackendService(description="x"),
        )
    )
    bs = compute.backend_services.get(project=PROJECT, backend_service="bs-hello")

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
