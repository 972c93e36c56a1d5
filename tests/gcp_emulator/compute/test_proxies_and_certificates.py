"""Target proxies (setUrlMap, setSslCertificates, patch) and SSL certificates (managed, self-managed)."""

from __future__ import annotations

import datetime

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.api_core import exceptions
from google.cloud import compute_v1

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import PROJECT, SELF, Compute, reason_of


def _self_signed(domain: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def _backend(compute: Compute) -> None:
    compute.neg()
    compute.backend_service()
    compute.url_map()


def test_https_proxy_set_url_map_and_certificates(compute: Compute) -> None:
    _backend(compute)
    compute.managed_certificate()
    compute.managed_certificate(name="cert-two", domain="two.example.com")
    compute.url_map(name="um-two")
    proxy = compute.https_proxy()
    assert proxy.url_map == f"{SELF}/global/urlMaps/um-hello"
    assert proxy.ssl_certificates == [f"{SELF}/global/sslCertificates/cert-hello"]
    assert proxy.quic_override == "NONE"

    compute.wait(
        compute.https_proxies.set_url_map_unary(
            project=PROJECT,
            target_https_proxy="px-hello",
            url_map_reference_resource=compute_v1.UrlMapReference(url_map="global/urlMaps/um-two"),
        )
    )
    moved = compute.https_proxies.get(project=PROJECT, target_https_proxy="px-hello")
    assert moved.url_map == f"{SELF}/global/urlMaps/um-two"
    assert moved.fingerprint != proxy.fingerprint

    certs = compute_v1.TargetHttpsProxiesSetSslCertificatesRequest(
        ssl_certificates=[
            f"{SELF}/global/sslCertificates/cert-hello",
            f"{SELF}/global/sslCertificates/cert-two",
        ]
    )
    op = compute.https_proxies.set_ssl_certificates_unary(
        project=PROJECT,
        target_https_proxy="px-hello",
        target_https_proxies_set_ssl_certificates_request_resource=certs,
    )
    assert op.operation_type == "setSslCertificates"
    compute.wait(op)
    assert (
        len(compute.https_proxies.get(project=PROJECT, target_https_proxy="px-hello").ssl_certificates) == 2
    )

    # The certificate is in use now; the first URL map is free again.
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.certificates.delete_unary(project=PROJECT, ssl_certificate="cert-two")
    assert reason_of(caught.value) == "resourceInUseByAnotherResource"
    compute.wait(compute.url_maps.delete_unary(project=PROJECT, url_map="um-hello"))


def test_https_proxy_patch_needs_fingerprint(compute: Compute) -> None:
    _backend(compute)
    compute.managed_certificate()
    proxy = compute.https_proxy()
    patch = compute_v1.TargetHttpsProxy(fingerprint=proxy.fingerprint, description="patched")
    compute.wait(
        compute.https_proxies.patch_unary(
            project=PROJECT, target_https_proxy="px-hello", target_https_proxy_resource=patch
        )
    )
    assert compute.https_proxies.get(project=PROJECT, target_https_proxy="px-hello").description == "patched"
    with pytest.raises(exceptions.PreconditionFailed):
        compute.https_proxies.patch_unary(
            project=PROJECT, target_https_proxy="px-hello", target_https_proxy_resource=patch
        )


def test_https_proxy_needs_certificates_and_a_url_map(compute: Compute) -> None:
    _backend(compute)
    no_certs = compute_v1.TargetHttpsProxy(name="px-x", url_map="global/urlMaps/um-hello")
    with pytest.raises(exceptions.BadRequest):
        compute.https_proxies.insert_unary(project=PROJECT, target_https_proxy_resource=no_certs)
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.https_proxy(url_map="missing")
    assert reason_of(caught.value) == "invalid"


def test_http_proxy_set_url_map(compute: Compute) -> None:
    redirect = compute_v1.UrlMap(
        name="um-redirect", default_url_redirect=compute_v1.HttpRedirectAction(https_redirect=True)
    )
    compute.wait(compute.url_maps.insert_unary(project=PROJECT, url_map_resource=redirect))
    _backend(compute)
    resource = compute_v1.TargetHttpProxy(name="px-http", url_map="global/urlMaps/um-redirect")
    compute.wait(compute.http_proxies.insert_unary(project=PROJECT, target_http_proxy_resource=resource))
    proxy = compute.http_proxies.get(project=PROJECT, target_http_proxy="px-http")
    assert proxy.kind == "compute#targetHttpProxy"
    assert proxy.url_map == f"{SELF}/global/urlMaps/um-redirect"

    compute.wait(
        compute.http_proxies.set_url_map_unary(
            project=PROJECT,
            target_http_proxy="px-http",
            url_map_reference_resource=compute_v1.UrlMapReference(url_map=f"{SELF}/global/urlMaps/um-hello"),
        )
    )
    assert compute.http_proxies.get(project=PROJECT, target_http_proxy="px-http").url_map.endswith(
        "/um-hello"
    )
    compute.wait(compute.http_proxies.delete_unary(project=PROJECT, target_http_proxy="px-http"))
    assert list(compute.http_proxies.list(project=PROJECT)) == []


def test_self_managed_certificate_never_returns_its_key(
    compute: Compute, emulator: GcpEmulatorThread
) -> None:
    pem, key = _self_signed("self.example.com")
    resource = compute_v1.SslCertificate(name="cert-self", certificate=pem, private_key=key)
    compute.wait(compute.certificates.insert_unary(project=PROJECT, ssl_certificate_resource=resource))
    cert = compute.certificates.get(project=PROJECT, ssl_certificate="cert-self")
    assert "type_" not in cert  # recorded: `type` only when sent
    assert cert.certificate == cert.self_managed.certificate == pem
    assert cert.private_key == ""
    assert cert.subject_alternative_names == ["self.example.com"]
    assert "PRIVATE KEY" not in str(emulator.state())


def test_self_managed_certificate_must_parse(compute: Compute) -> None:
    resource = compute_v1.SslCertificate(name="cert-bad", certificate="nope", private_key="nope")
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.certificates.insert_unary(project=PROJECT, ssl_certificate_resource=resource)
    assert reason_of(caught.value) == "invalid"


def test_certificates_have_no_update(compute: Compute, emulator: GcpEmulatorThread) -> None:
    compute.managed_certificate()
    url = f"{emulator.url}/compute/v1/projects/{PROJECT}/global/sslCertificates/cert-hello"
    assert requests.patch(url, json={"description": "x"}, timeout=10).status_code == 405
    compute.wait(compute.certificates.delete_unary(project=PROJECT, ssl_certificate="cert-hello"))
    again = compute.managed_certificate(domain="new.example.com")  # replace = delete + insert
    assert again.managed.domains == ["new.example.com"]


def test_managed_certificate_domains_are_validated(compute: Compute) -> None:
    with pytest.raises(exceptions.BadRequest):
        compute.managed_certificate(domain="not a domain")
