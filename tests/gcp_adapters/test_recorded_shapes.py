"""What real GCP answers (as recorded, ../shared/recorded-gcp) and the adapters must read right.

Each test but the last failed before the adapters learnt the recorded shape (the emulator used to answer
our belief instead); the last guards the link forms, which the adapters already normalized.
"""

from __future__ import annotations

import dataclasses
import hashlib

from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import IapSettings
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import MARKS, PROJECT, chain, compute_path, requests_to
from .test_compute_lifecycle import create_through, create_up_to

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


async def test_the_google_managed_client_reads_back_as_desired(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    """GCP always answers `iap: {enabled, oauth2ClientId: "", oauth2ClientSecretSha256: sha256("")}`:
    that is "no custom client", or every resync would PATCH the backend service forever."""
    desired, created = await create_through(cloud, chain(), "backend")
    assert emulator.state()[compute_path(desired)]["iap"]["oauth2ClientSecretSha256"] == EMPTY_SHA256

    found = await cloud.backend_services.find(PROJECT, desired.key)

    assert found is not None
    assert found.spec == created.spec == desired
    assert found.spec.iap == IapSettings(enabled=True)


async def test_a_backend_service_whose_iap_was_never_configured(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    resources = chain()
    await create_up_to(cloud, resources, "backend")
    never = dataclasses.replace(resources.backend, iap=IapSettings(enabled=False))
    await cloud.backend_services.create(PROJECT, never, MARKS)
    found = await cloud.backend_services.find(PROJECT, never.key)
    assert found is not None
    assert found.spec.iap == IapSettings(enabled=False)


async def test_forwarding_rule_labels_are_set_after_the_insert(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    """GCP drops labels sent with a forwarding rule insert; they are set with setLabels afterwards."""
    resources = chain()
    _, rule = await create_through(cloud, resources, "rule")

    assert rule.marks.labels == MARKS.labels
    assert emulator.state()[compute_path(resources.rule)]["labels"] == dict(MARKS.labels)
    assert [r["status"] for r in requests_to(emulator, "POST", f"{resources.rule.key.name}/setLabels")] == [
        200
    ]


async def test_iap_on_a_foreign_backend_service_leaves_its_backends_alone(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    """Attach mode patches only the `iap` block: the owner's balancing settings survive."""
    resources = chain()
    desired, _ = await create_through(cloud, resources, "backend")
    path = compute_path(desired)
    backend = emulator.state()[path]["backends"][0]
    emulator.mutate(path, {"backends": [{**backend, "capacityScaler": 0.5}]})
    fresh = await cloud.backend_services.find(PROJECT, desired.key)
    assert fresh is not None

    disabled = dataclasses.replace(fresh.spec, iap=IapSettings(enabled=False))
    await cloud.backend_services.update(PROJECT, disabled, fresh)

    stored = emulator.state()[path]
    assert stored["backends"][0]["capacityScaler"] == 0.5
    assert stored["iap"]["enabled"] is False


async def test_each_domain_of_a_managed_certificate_is_reported(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    resources = chain()
    _, certificate = await create_through(cloud, resources, "certificate")
    assert certificate.outputs["status"] == "PROVISIONING_FAILED"  # no load balancer, no DNS yet
    assert certificate.outputs["domain/hello.example.com"] == "FAILED_NOT_VISIBLE"

    emulator.set_dns({"hello.example.com": "auto"})
    await create_through(cloud, resources, "rule")
    active = await cloud.ssl_certificates.find(PROJECT, resources.certificate.key)
    assert active is not None
    assert active.outputs == {"status": "ACTIVE", "domain/hello.example.com": "ACTIVE"}


async def test_cloud_cdn_on_a_backend_service_is_reported(cloud: Cloud, emulator: EmulatorHandle) -> None:
    desired, _ = await create_through(cloud, chain(), "backend")
    emulator.mutate(compute_path(desired), {"enableCDN": True})
    found = await cloud.backend_services.find(PROJECT, desired.key)
    assert found is not None
    assert found.outputs["enableCDN"] == "true"


async def test_links_in_any_recorded_form_are_read_as_paths(cloud: Cloud, emulator: EmulatorHandle) -> None:
    """GCP answers `compute/beta` URLs (a URL map's defaultService) and `projects/...` paths as sent (an
    HTTP proxy's urlMap); the adapters compare them all as `projects/...` paths."""
    resources = chain()
    _, url_map = await create_through(cloud, resources, "url_map")
    assert emulator.state()[compute_path(resources.url_map)]["defaultService"].startswith(
        "https://www.googleapis.com/compute/beta/"
    )
    assert url_map.spec == resources.url_map
    _, proxy = await create_through(cloud, resources, "http_proxy")
    assert emulator.state()[compute_path(resources.http_proxy)]["urlMap"].startswith("projects/")
    assert proxy.spec == resources.http_proxy
