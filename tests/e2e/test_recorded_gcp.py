"""The operator against the emulator's real-shaped answers (../shared/recorded-gcp, docs/gcp-emulator.md):
zero writes on resync with the Google-managed OAuth client, forwarding-rule labels, managed certificates
provisioned against DNS, and today's configuration warnings."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import PROJECT, REGION, RUN_PATH, World, condition, is_ready, protected, world

from iap_operator.engine.identity import OWNER_LABEL, Owner, Ownership

pytestmark = pytest.mark.timeout(60)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
BASE = f"compute/v1/projects/{PROJECT}"


def identity(obj: dict[str, Any]) -> Ownership:
    """Whose names and marks the operator gave this object's resources (status.owner: cluster/ns/name)."""
    cluster, namespace, name = obj["status"]["owner"].split("/")
    return Ownership.fresh(Owner(cluster, namespace, name))


async def resyncs_without_writes(w: World, obj: dict[str, Any], passes: int) -> dict[str, Any]:
    """Wait for `passes` further resync passes; assert GCP saw reads and not a single write."""
    mark = len(w.gcp.requests())
    for _ in range(passes):
        last = obj["status"]["lastSyncTime"]
        changed = await w.wait_for(lambda o, last=last: o is not None and o["status"]["lastSyncTime"] != last)
        assert changed is not None
        obj = changed
    assert [r for r in w.gcp.requests()[mark:] if r["method"] == "GET"], "resyncs observe GCP"
    assert w.writes(mark) == []
    return obj


async def foreign_backend_service(w: World, **fields: Any) -> str:
    """A backend service someone else made (over the compute API): its store path."""
    base = f"{w.gcp.url}/{BASE}"
    neg = {"name": "team-neg", "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "hello"}}
    async with w.session.post(f"{base}/regions/{REGION}/networkEndpointGroups", json=neg) as resp:
        assert resp.status == 200
    backend = {
        "name": "team-backend",
        "loadBalancingScheme": "EXTERNAL",
        "protocol": "HTTPS",
        "backends": [{"group": f"projects/{PROJECT}/regions/{REGION}/networkEndpointGroups/team-neg"}],
        **fields,
    }
    async with w.session.post(f"{base}/global/backendServices", json=backend) as resp:
        assert resp.status == 200
    return f"{BASE}/global/backendServices/team-backend"


async def test_the_google_managed_client_resyncs_with_zero_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GCP answers `oauth2ClientSecretSha256: sha256("")` for the managed client: no PATCH, ever."""
    async with world(tmp_path, monkeypatch, resync_override=0.3) as w:
        await w.create(protected())
        obj = await w.wait_ready()
        bs = w.gcp.state()[f"{BASE}/global/backendServices/{identity(obj).resource_name('bs')}"]
        assert bs["iap"] == {"enabled": True, "oauth2ClientId": "", "oauth2ClientSecretSha256": EMPTY_SHA256}
        obj = await resyncs_without_writes(w, obj, passes=4)
        assert is_ready(obj)
        assert condition(obj, "ConfigurationWarning") == "False"


async def test_attaching_with_the_managed_client_resyncs_with_zero_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch, resync_override=0.3) as w:
        path = await foreign_backend_service(w)
        await w.create(protected(loadBalancer={"backendService": {"name": "team-backend"}}))
        obj = await w.wait_ready()
        assert w.gcp.state()[path]["iap"]["oauth2ClientSecretSha256"] == EMPTY_SHA256
        obj = await resyncs_without_writes(w, obj, passes=3)
        assert is_ready(obj)


async def test_forwarding_rule_labels_are_set_and_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GCP drops labels sent with a forwarding rule insert: the operator sets them with setLabels, and
    puts them back when someone removes them."""
    async with world(tmp_path, monkeypatch, resync_override=0.3) as w:
        await w.create(protected())
        obj = await w.wait_ready()
        ident = identity(obj)
        rule = f"{BASE}/global/forwardingRules/{ident.resource_name('fr-https')}"
        assert w.gcp.state()[rule]["labels"][OWNER_LABEL] == ident.owner.id
        set_labels = [r for r in w.gcp.requests() if r["path"].endswith("/setLabels")]
        assert len(set_labels) == 2  # the HTTPS and the HTTP forwarding rule, once each

        w.gcp.mutate(rule, {"labels": None})  # removed out of band
        await w.wait_for(lambda _: OWNER_LABEL in (w.gcp.state()[rule].get("labels") or {}), within=20)
        assert "ownership labels" in (await w.wait_event("DriftRepaired"))["message"]


async def test_the_certificate_condition_names_the_dns_record_to_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        w.gcp.set_dns({"*.example.com": None})  # nobody created the record yet
        await w.create(protected())
        obj = await w.wait_for(lambda o: condition(o, "LoadBalancerReady") == "True")
        assert obj is not None
        ip = obj["status"]["ipAddress"]
        assert condition(obj, "CertificateReady") == "False"
        assert condition(obj, "CertificateReady", "reason") == "CertificateProvisioning"
        message = str(condition(obj, "CertificateReady", "message"))
        assert "hello.example.com FAILED_NOT_VISIBLE" in message
        assert f"hello.example.com. A {ip}" in message
        assert condition(obj, "Ready") == "False"

        w.gcp.set_dns({"hello.example.com": {"a": ip, "caa": ["digicert.com"]}})  # a CAA record in the way
        caa = await w.wait_for(
            lambda o: "FAILED_CAA_FORBIDDEN" in str(condition(o, "CertificateReady", "message"))
        )
        assert 'hello.example.com. CAA 0 issue "pki.goog"' in str(
            condition(caa, "CertificateReady", "message")
        )

        w.gcp.set_dns({"hello.example.com": ip})  # the owner follows the instruction
        ready = await w.wait_ready()
        assert condition(ready, "CertificateReady") == "True"


async def test_a_permanently_failed_certificate_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "It won't be retried. To try again delete and create a new managed SslCertificate resource." """
    async with world(tmp_path, monkeypatch) as w:
        w.gcp.set_dns({"*.example.com": None})
        w.gcp.world.settings["compute.managedCertificatePermanentFailureSeconds"] = 0
        await w.create(protected())
        await w.wait_for(
            lambda o: "PROVISIONING_FAILED_PERMANENTLY" in str(condition(o, "CertificateReady", "message"))
        )

        del w.gcp.world.settings["compute.managedCertificatePermanentFailureSeconds"]
        w.gcp.set_dns({"*.example.com": "auto"})  # DNS fixed: only a new certificate can use it
        obj = await w.wait_ready()
        assert (await w.wait_event("CertificateReplaced"))["type"] == "Warning"
        certificates = {p: c for p, c in w.compute().items() if "/sslCertificates/" in p}
        assert len(certificates) == 1  # the failed one is gone
        ((path, active),) = certificates.items()
        assert active["managed"]["status"] == "ACTIVE"
        proxy = w.gcp.state()[f"{BASE}/global/targetHttpsProxies/{identity(obj).resource_name('https')}"]
        assert [link.rsplit("/", 1)[-1] for link in proxy["sslCertificates"]] == [path.rsplit("/", 1)[-1]]
        assert path.rsplit("/", 1)[-1] in [r["name"] for r in obj["status"]["resources"]]

        await w.delete()  # the replacement is recorded as ours: teardown removes it
        await w.wait_for(lambda o: o is None)
        assert not [p for p in w.compute() if "/sslCertificates/" in p]


async def test_http2_behind_the_global_external_balancer_is_not_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today's page: the redirect loop happens behind the classic balancer; Google recommends the global
    external Application Load Balancer for HTTP/2 services."""
    async with world(tmp_path, monkeypatch) as w:
        template = w.gcp.state()[RUN_PATH]["template"]
        template["containers"][0]["ports"] = [{"name": "h2c", "containerPort": 8080}]
        w.gcp.mutate(RUN_PATH, {"template": template})
        managed = protected(
            loadBalancer={"domains": ["hello.example.com"], "loadBalancingScheme": "EXTERNAL_MANAGED"}
        )
        await w.create(managed)
        obj = await w.wait_ready()
        assert condition(obj, "ConfigurationWarning") == "False"

        await w.delete()
        await w.wait_for(lambda o: o is None)
        await w.create(protected())  # the classic balancer (the default scheme)
        classic = await w.wait_ready()
        assert condition(classic, "ConfigurationWarning", "reason") == "Http2EndToEnd"
        assert "EXTERNAL_MANAGED" in str(condition(classic, "ConfigurationWarning", "message"))


async def test_cloud_cdn_on_an_attached_backend_service_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await foreign_backend_service(w, enableCDN=True)
        await w.create(protected(loadBalancer={"backendService": {"name": "team-backend"}}))
        obj = await w.wait_ready()
        assert condition(obj, "ConfigurationWarning") == "True"
        assert condition(obj, "ConfigurationWarning", "reason") == "CloudCdnEnabled"
        assert "incompatible with Cloud CDN" in str(condition(obj, "ConfigurationWarning", "message"))
