"""LoadBalancer mode end to end: create to Ready, zero-write resync, members, drift, delete, abandon."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import (
    FOREIGN,
    NUMBER,
    PROJECT,
    REGION,
    RUN_PATH,
    World,
    condition,
    is_ready,
    protected,
    world,
)
from tests.e2e.owners import ownership_of

from iap_operator.engine.identity import Ownership
from iap_operator.wiring.metrics import METRICS

pytestmark = pytest.mark.timeout(60)

BS = "compute/v1/projects/demo-project/global/backendServices"


def names(obj: dict[str, Any]) -> Ownership:
    return ownership_of(obj)


def by_suffix(
    w: World, ident: Ownership, collection: str, suffix: str, region: str | None = None
) -> dict[str, Any]:
    where = f"regions/{region}" if region else "global"
    path = f"compute/v1/projects/{PROJECT}/{where}/{collection}/{ident.resource_name(suffix)}"
    found = w.gcp.state().get(path)
    assert found is not None, f"{path} missing; have {sorted(w.compute())}"
    return dict(found)


def drift_repairs(kind: str) -> float:
    """The operator runs in this process (its own thread): read its metrics registry directly."""
    value = METRICS.registry.get_sample_value("iap_operator_drift_repairs_total", {"kind": kind})
    return value or 0.0


def iap_policy_path(bs_id: str) -> str:
    """The operator addresses the policy by the backend service id (GCP accepts its id or name)."""
    return f"v1/projects/{NUMBER}/iap_web/compute/services/{bs_id}"


def members(policy: dict[str, Any], role: str) -> set[str]:
    return {m for b in policy.get("bindings", []) if b["role"] == role for m in b["members"]}


async def test_create_to_ready_builds_every_resource(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected())
        obj = await w.wait_ready()
        ident = names(obj)
        status = obj["status"]

        neg = by_suffix(w, ident, "networkEndpointGroups", "neg", REGION)
        assert neg["networkEndpointType"] == "SERVERLESS"
        assert neg["cloudRun"]["service"] == "hello"
        bs = by_suffix(w, ident, "backendServices", "bs")
        assert bs["iap"]["enabled"] is True
        assert bs["iap"]["oauth2ClientId"] == ""  # the Google-managed client (as GCP answers it)
        assert bs["loadBalancingScheme"] == "EXTERNAL"
        assert bs["protocol"] == "HTTPS"
        assert bs["backends"][0]["group"].endswith(f"networkEndpointGroups/{neg['name']}")
        assert f"(owner {ident.owner.id})" in bs["description"]
        um = by_suffix(w, ident, "urlMaps", "um")
        assert um["defaultService"].endswith(f"backendServices/{bs['name']}")
        redirect = by_suffix(w, ident, "urlMaps", "um-redirect")
        assert redirect["defaultUrlRedirect"]["httpsRedirect"] is True
        https = by_suffix(w, ident, "targetHttpsProxies", "https")
        assert https["urlMap"].endswith(um["name"])
        cert_path = next(p for p in w.compute() if "/sslCertificates/" in p)
        cert = w.gcp.state()[cert_path]
        assert cert["type"] == "MANAGED"
        assert cert["managed"]["domains"] == ["hello.example.com"]
        assert https["sslCertificates"][0].endswith(cert["name"])
        address = by_suffix(w, ident, "addresses", "ip")
        assert address["labels"]["iap-operator-owner"] == ident.owner.id
        rule = by_suffix(w, ident, "forwardingRules", "fr-https")
        assert rule["portRange"] in {"443", "443-443"}
        assert rule["target"].endswith(https["name"])
        assert rule["IPAddress"] in {address["address"], address["selfLink"]} or rule["IPAddress"].endswith(
            address["name"]
        )
        http_rule = by_suffix(w, ident, "forwardingRules", "fr-http")
        assert http_rule["portRange"] in {"80", "80-80"}

        service = w.gcp.state()[RUN_PATH]
        assert service["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
        invokers = members(w.policy(RUN_PATH), "roles/run.invoker")
        assert invokers == {FOREIGN, f"serviceAccount:service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"}
        assert members(w.policy(iap_policy_path(bs["id"])), "roles/iap.httpsResourceAccessor") == {
            "user:alice@example.com",
            "group:devs@example.com",
        }

        assert status["url"] == "https://hello.example.com"
        assert status["ipAddress"] == address["address"]
        assert status["backendService"] == {"name": bs["name"], "id": bs["id"]}
        assert status["jwtAudience"] == f"/projects/{NUMBER}/global/backendServices/{bs['id']}"
        assert status["serviceAgent"] == f"service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"
        for type_ in (
            "Protected",
            "ServiceAgentReady",
            "IngressRestricted",
            "InvokerGranted",
            "LoadBalancerReady",
            "CertificateReady",
            "IapEnabled",
            "AccessGranted",
        ):
            assert condition(obj, type_) == "True", type_
        assert condition(obj, "Reconciling") == "False"
        assert condition(obj, "Stalled") == "False"
        assert all(c["observedGeneration"] == obj["metadata"]["generation"] for c in status["conditions"])
        event = await w.wait_event("Created")
        assert event["message"].startswith("created ")
        assert event["involvedObject"]["uid"] == obj["metadata"]["uid"]


async def test_second_reconcile_makes_no_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch, resync_override=0.3) as w:
        await w.create(protected())
        obj = await w.wait_ready()
        mark = len(w.gcp.requests())
        for _ in range(2):  # two full resync passes over an up-to-date resource
            last = obj["status"]["lastSyncTime"]
            changed = await w.wait_for(
                lambda o, last=last: o is not None and o["status"]["lastSyncTime"] != last
            )
            assert changed is not None
            obj = changed
        reads = [r for r in w.gcp.requests()[mark:] if r["method"] == "GET"]
        assert len(reads) >= 10, "a resync observes every resource"
        assert w.writes(mark) == []
        assert is_ready(obj)


async def test_members_added_and_removed_foreign_binding_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected())
        obj = await w.wait_ready()
        path = iap_policy_path(obj["status"]["backendService"]["id"])
        # Someone else grants a member by hand; it must survive everything we do.
        policy = w.policy(path)
        policy["bindings"].append(
            {"role": "roles/iap.httpsResourceAccessor", "members": ["user:bob@example.com"]}
        )
        w.gcp.world.iam.put_raw(path, {"bindings": policy["bindings"]})
        await w.patch_spec(
            "hello", {"access": {"members": ["user:alice@example.com", "user:carol@example.com"]}}
        )
        await w.wait_for(lambda o: o is not None and is_ready(o) and o["metadata"]["generation"] == 2)
        assert members(w.policy(path), "roles/iap.httpsResourceAccessor") == {
            "user:alice@example.com",
            "user:carol@example.com",
            "user:bob@example.com",
        }


async def test_delete_leaves_nothing_of_ours_and_everything_foreign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        before = set(w.compute())
        await w.create(protected())
        await w.wait_ready()
        await w.delete()
        await w.wait_for(lambda o: o is None)
        assert set(w.compute()) == before
        assert members(w.policy(RUN_PATH), "roles/run.invoker") == {FOREIGN}
        assert (await w.wait_event("Deleted"))["message"].startswith("deleted ")


async def test_abandon_leaves_everything_and_strips_marks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected(deletionPolicy="Abandon"))
        obj = await w.wait_ready()
        ident = names(obj)
        created = set(w.compute())
        await w.delete()
        await w.wait_for(lambda o: o is None)
        assert set(w.compute()) == created
        address = by_suffix(w, ident, "addresses", "ip")
        assert "iap-operator-owner" not in (address.get("labels") or {})
        assert "managed-by" not in (address.get("labels") or {})


async def test_drift_is_repaired_on_resync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch, resync_override=0.3) as w:
        await w.create(protected())
        obj = await w.wait_ready()
        ident = names(obj)
        bs_path = f"{BS}/{ident.resource_name('bs')}"
        repairs_before = drift_repairs("BackendService")
        w.gcp.mutate(bs_path, {"iap": {"enabled": False}})  # IAP turned off by hand
        w.gcp.mutate(RUN_PATH, {"ingress": "INGRESS_TRAFFIC_ALL"})  # ingress reopened
        agent = f"serviceAccount:service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"
        w.gcp.world.iam.put_raw(RUN_PATH, {"bindings": [{"role": "roles/run.invoker", "members": [FOREIGN]}]})

        def repaired(_: Any) -> bool:
            state = w.gcp.state()
            return (
                state[bs_path]["iap"]["enabled"] is True
                and state[RUN_PATH]["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
                and agent in members(w.policy(RUN_PATH), "roles/run.invoker")
            )

        await w.wait_for(repaired, within=20)
        assert "repaired drift" in (await w.wait_event("DriftRepaired"))["message"]
        assert drift_repairs("BackendService") > repairs_before
        assert FOREIGN in members(w.policy(RUN_PATH), "roles/run.invoker")


async def test_spec_changes_replace_and_remove_what_is_no_longer_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected())
        obj = await w.wait_ready()
        ident = names(obj)
        old_certs = {p for p in w.compute() if "/sslCertificates/" in p}
        assert len(old_certs) == 1
        # New domains: certificates cannot change, so a new one replaces the old; no redirect any more.
        await w.patch_spec(
            "hello", {"loadBalancer": {"domains": ["www.example.com"], "httpsRedirect": False}}
        )
        obj = await w.wait_for(lambda o: o is not None and is_ready(o) and o["metadata"]["generation"] == 2)
        certs = {p for p in w.compute() if "/sslCertificates/" in p}
        assert len(certs) == 1
        assert certs.isdisjoint(old_certs)
        (cert_path,) = certs
        assert w.gcp.state()[cert_path]["managed"]["domains"] == ["www.example.com"]
        https = by_suffix(w, ident, "targetHttpsProxies", "https")
        assert https["sslCertificates"][0].endswith(w.gcp.state()[cert_path]["name"])
        leftovers = [p for p in w.compute() if p.endswith(("-um-redirect", "-http", "-fr-http"))]
        assert leftovers == []
        assert obj["status"]["url"] == "https://www.example.com"
        assert {r["name"] for r in obj["status"]["resources"]} == {p.rsplit("/", 1)[1] for p in w.compute()}


async def test_a_rotated_oauth_secret_is_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch, resync_override=0.3) as w:
        await w.create_secret(
            "oauth", {"client_id": "1234.apps.googleusercontent.com", "client_secret": "first"}
        )
        await w.create(protected(oauthClient={"secretRef": {"name": "oauth"}}))
        obj = await w.wait_ready()
        bs_path = f"{BS}/{names(obj).resource_name('bs')}"
        data = {"client_id": "1234.apps.googleusercontent.com", "client_secret": "second"}
        async with w.session.patch(
            f"{w.kube_url}/api/v1/namespaces/default/secrets/oauth",
            json={"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}},
            headers={"Content-Type": "application/merge-patch+json"},
        ) as resp:
            assert resp.status == 200
        want = hashlib.sha256(b"second").hexdigest()
        await w.wait_for(lambda _: w.gcp.state()[bs_path]["iap"].get("oauth2ClientSecretSha256") == want)


async def test_deleting_the_crd_abandons_instead_of_tearing_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected())
        await w.wait_ready()
        created = set(w.compute())
        crds = f"{w.kube_url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        crd = f"{crds}/iapprotectedservices.iap-operator.dev"
        async with w.session.delete(crd) as resp:
            assert resp.status in {200, 202}, await resp.text()
        await w.wait_for(lambda o: o is None)
        assert set(w.compute()) == created  # everything left in place, as with deletionPolicy: Abandon
        assert (await w.wait_event("Abandoned"))["message"].startswith("left ")


async def test_an_annotation_change_forces_a_reconcile_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:  # resync every hour: only the annotation can trigger
        await w.create(protected())
        obj = await w.wait_ready()
        bs_path = f"{BS}/{names(obj).resource_name('bs')}"
        w.gcp.mutate(bs_path, {"iap": {"enabled": False}})
        headers = {"Content-Type": "application/merge-patch+json"}
        patch = {
            "metadata": {"annotations": {"reconcile.iap-operator.dev/requested-at": "2026-11-29T12:00:00Z"}}
        }
        async with w.session.patch(w._path("hello"), json=patch, headers=headers) as resp:
            assert resp.status == 200
        await w.wait_for(lambda _: w.gcp.state()[bs_path]["iap"]["enabled"] is True)
