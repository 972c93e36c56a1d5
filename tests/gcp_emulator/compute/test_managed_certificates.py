"""Google-managed certificates as GCP provisions them: against the emulator's DNS and load balancer.

Statuses and their meaning: the compute discovery document (SslCertificateManagedSslCertificate).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.cloud import compute_v1

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import PROJECT, Compute

DOMAIN = "hello.example.com"


def cert(compute: Compute, name: str = "cert-hello") -> compute_v1.SslCertificate:
    return compute.certificates.get(project=PROJECT, ssl_certificate=name)


def eventually(compute: Compute, status: str, within: float = 10.0) -> compute_v1.SslCertificate:
    """The certificate once its status is `status` (the emulator's timers run on its own loop)."""
    deadline = time.monotonic() + within
    found = cert(compute)
    while found.managed.status != status and time.monotonic() < deadline:
        time.sleep(0.05)
        found = cert(compute)
    assert found.managed.status == status, dict(found.managed.domain_status)
    return found


def test_active_only_once_the_domain_resolves_to_its_load_balancer(
    compute: Compute, emulator: GcpEmulatorThread
) -> None:
    created = compute.managed_certificate()
    assert created.type_ == "MANAGED"
    # zero profile: no time allowed without DNS, so the domain fails at once (GCP keeps retrying)
    assert created.managed.status == "PROVISIONING_FAILED"
    assert dict(created.managed.domain_status) == {DOMAIN: "FAILED_NOT_VISIBLE"}
    assert "expire_time" not in created
    assert not created.subject_alternative_names

    compute.neg()
    compute.backend_service()
    compute.url_map()
    compute.https_proxy()
    ip = compute.address().address
    compute.forwarding_rule(ip=ip)
    assert cert(compute).managed.status == "PROVISIONING_FAILED"  # served, but DNS points nowhere

    emulator.set_dns({DOMAIN: "203.0.113.9"})  # somewhere else
    assert dict(cert(compute).managed.domain_status) == {DOMAIN: "FAILED_NOT_VISIBLE"}

    emulator.set_dns({DOMAIN: ip})
    active = cert(compute)
    assert active.managed.status == "ACTIVE"
    assert dict(active.managed.domain_status) == {DOMAIN: "ACTIVE"}
    assert active.expire_time
    assert active.subject_alternative_names == [DOMAIN]


def test_auto_and_wildcard_records_follow_the_load_balancer(
    compute: Compute, emulator: GcpEmulatorThread
) -> None:
    emulator.set_dns({"*.example.com": "auto"})
    compute.chain()
    assert cert(compute).managed.status == "ACTIVE"
    assert emulator.dns() == {"*.example.com": {"a": ["auto"]}}


def test_a_caa_record_without_googles_cas_forbids_issuance(
    compute: Compute, emulator: GcpEmulatorThread
) -> None:
    emulator.set_dns({DOMAIN: {"a": "auto", "caa": ["digicert.com"]}})
    compute.chain()
    forbidden = cert(compute)
    assert forbidden.managed.status == "PROVISIONING_FAILED"
    assert dict(forbidden.managed.domain_status) == {DOMAIN: "FAILED_CAA_FORBIDDEN"}

    emulator.set_dns({DOMAIN: {"a": "auto", "caa": ["digicert.com", "pki.goog"]}})
    assert cert(compute).managed.status == "ACTIVE"


@pytest.mark.parametrize("settings", [{"compute.managedCertificateNotVisibleSeconds": 0.3}])
def test_a_domain_fails_not_visible_after_the_configured_time(compute: Compute, settings: Any) -> None:
    created = compute.managed_certificate()
    assert created.managed.status == "PROVISIONING"
    assert dict(created.managed.domain_status) == {DOMAIN: "PROVISIONING"}
    failed = eventually(compute, "PROVISIONING_FAILED")
    assert dict(failed.managed.domain_status) == {DOMAIN: "FAILED_NOT_VISIBLE"}


@pytest.mark.parametrize("settings", [{"compute.managedCertificatePermanentFailureSeconds": 0.3}])
def test_failing_long_enough_is_permanent_and_never_retried(
    compute: Compute, emulator: GcpEmulatorThread, settings: Any
) -> None:
    compute.chain()
    dead = eventually(compute, "PROVISIONING_FAILED_PERMANENTLY")
    assert dict(dead.managed.domain_status) == {DOMAIN: "FAILED_NOT_VISIBLE"}
    emulator.set_dns({DOMAIN: "auto"})  # fixed too late: "It won't be retried"
    assert cert(compute).managed.status == "PROVISIONING_FAILED_PERMANENTLY"


@pytest.mark.parametrize("settings", [{"compute.managedCertificateSeconds": 0.3}])
def test_provisioning_takes_the_configured_time_from_the_insert(
    compute: Compute, emulator: GcpEmulatorThread, settings: Any
) -> None:
    emulator.set_dns({DOMAIN: "auto"})
    compute.chain()
    waiting = cert(compute)
    assert (waiting.managed.status, dict(waiting.managed.domain_status)) == (
        "PROVISIONING",
        {DOMAIN: "PROVISIONING"},
    )
    assert dict(eventually(compute, "ACTIVE").managed.domain_status) == {DOMAIN: "ACTIVE"}


def test_deleting_the_forwarding_rule_keeps_an_active_certificate(
    compute: Compute, emulator: GcpEmulatorThread
) -> None:
    emulator.set_dns({DOMAIN: "auto"})
    compute.chain()
    compute.wait(compute.forwarding_rules.delete_unary(project=PROJECT, forwarding_rule="fr-hello"))
    assert cert(compute).managed.status == "ACTIVE"  # renewal is not modelled
