"""LoadBalancer options: named certificates and address, no HTTP redirect, the EXTERNAL_MANAGED scheme."""

from __future__ import annotations

from iap_operator.engine.conditions import Reason
from iap_operator.engine.resources import Address, Key, Kind, Marks, SslCertificate

from .fakes import FakeGcp
from .scenario import DOMAIN, PROJECT, Harness, key, reasons, spec

THEIRS = Marks("platform team")


def named(**options: object) -> dict[str, object]:
    return {"domains": [DOMAIN], **options}


async def test_named_certificate_and_address_are_used_not_created(gcp: FakeGcp, harness: Harness) -> None:
    cert = gcp.ssl_certificates.put(
        PROJECT, SslCertificate(Key(Kind.SSL_CERTIFICATE, "wildcard"), (DOMAIN,)), THEIRS
    )
    address = gcp.addresses.put(PROJECT, Address(Key(Kind.ADDRESS, "static-ip")), THEIRS)

    outcome = await harness.reconcile(
        spec(loadBalancer=named(sslCertificates=["wildcard"], address="static-ip"))
    )

    assert not [c for c in gcp.writes() if c.port in {"ssl_certificates", "addresses"}]
    proxy = gcp.https_proxies.only().spec
    assert proxy.ssl_certificates == (cert.spec.key.path(PROJECT),)
    assert {r.spec.ip_address for r in gcp.forwarding_rules.items.values()} == {
        address.spec.key.path(PROJECT)
    }
    assert outcome.status["ipAddress"] == address.outputs["address"]
    assert outcome.ready  # no managed certificate to wait for
    assert reasons(outcome)["CertificateReady"] == (True, Reason.UP_TO_DATE)
    created = {(r["kind"], r["name"]) for r in outcome.status["resources"]}
    assert ("SslCertificate", "wildcard") not in created
    assert ("GlobalAddress", "static-ip") not in created
    assert len(created) == 8

    teardown = await harness.teardown(
        spec(loadBalancer=named(sslCertificates=["wildcard"], address="static-ip"))
    )

    assert teardown.done
    assert set(gcp.compute_items()) == {(PROJECT, cert.spec.key), (PROJECT, address.spec.key)}


async def test_a_named_address_that_does_not_exist_waits(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.reconcile(spec(loadBalancer=named(address="static-ip")))

    assert outcome.poll_after is not None
    assert outcome.error is None
    assert not outcome.stalled
    assert reasons(outcome)["LoadBalancerReady"] == (False, Reason.NOT_FOUND)
    assert not gcp.forwarding_rules.items
    assert "static-ip" in next(c.message for c in outcome.conditions if c.type == "LoadBalancerReady")


async def test_without_https_redirect_there_is_no_http_side(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.reconcile(spec(loadBalancer=named(httpsRedirect=False)))

    assert not gcp.http_proxies.items
    assert gcp.url_maps.get(PROJECT, key(Kind.URL_MAP, "um-redirect")) is None
    assert len(gcp.forwarding_rules.items) == 1
    assert len(outcome.status["resources"]) == 7


async def test_external_managed_scheme_is_built_without_a_warning(gcp: FakeGcp, harness: Harness) -> None:
    """Google's page no longer lists a limitation of IAP behind the global external ALB."""
    outcome = await harness.reconcile(spec(loadBalancer=named(loadBalancingScheme="EXTERNAL_MANAGED")))

    assert gcp.backend_services.only().spec.scheme == "EXTERNAL_MANAGED"
    assert {r.spec.scheme for r in gcp.forwarding_rules.items.values()} == {"EXTERNAL_MANAGED"}
    assert reasons(outcome)["ConfigurationWarning"] == (False, Reason.NO_WARNINGS)
