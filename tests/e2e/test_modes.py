"""Direct mode, attaching to an existing backend service, and the legacy allUsers invoker."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.harness import FOREIGN, NUMBER, PROJECT, REGION, RUN_PATH, condition, protected, world

pytestmark = pytest.mark.timeout(60)


def members(policy: dict[str, object], role: str) -> set[str]:
    bindings = policy.get("bindings") or []
    assert isinstance(bindings, list)
    return {m for b in bindings if b["role"] == role for m in b["members"]}


async def test_direct_mode_enables_iap_on_the_service_and_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        before = set(w.compute())
        body = protected(mode="Direct")
        del body["spec"]["loadBalancer"]
        await w.create(body)
        obj = await w.wait_ready()
        assert set(w.compute()) == before
        service = w.gcp.state()[RUN_PATH]
        assert service["iapEnabled"] is True
        assert service["ingress"] == "INGRESS_TRAFFIC_ALL"  # IAP fronts the run.app URL itself
        agent = f"serviceAccount:service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"
        assert members(w.policy(RUN_PATH), "roles/run.invoker") == {FOREIGN, agent}
        iap_path = f"v1/projects/{NUMBER}/iap_web/cloud_run-{REGION}/services/hello"
        assert members(w.policy(iap_path), "roles/iap.httpsResourceAccessor") == {
            "user:alice@example.com",
            "group:devs@example.com",
        }
        assert obj["status"]["url"] == service["uri"]
        assert obj["status"]["jwtAudience"] == f"/projects/{NUMBER}/locations/{REGION}/services/hello"
        assert condition(obj, "IngressRestricted") is None
        await w.delete()
        await w.wait_for(lambda o: o is None)
        assert members(w.policy(iap_path), "roles/iap.httpsResourceAccessor") == set()
        assert members(w.policy(RUN_PATH), "roles/run.invoker") == {FOREIGN}


async def test_attach_to_an_existing_backend_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch) as w:
        base = f"{w.gcp.url}/compute/v1/projects/{PROJECT}"
        neg = {"name": "team-neg", "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "hello"}}
        async with w.session.post(f"{base}/regions/{REGION}/networkEndpointGroups", json=neg) as resp:
            assert resp.status == 200
        backend = {
            "name": "team-backend",
            "description": "owned by the platform team",
            "loadBalancingScheme": "EXTERNAL",
            "protocol": "HTTPS",
            "backends": [{"group": f"projects/{PROJECT}/regions/{REGION}/networkEndpointGroups/team-neg"}],
        }
        async with w.session.post(f"{base}/global/backendServices", json=backend) as resp:
            assert resp.status == 200
        path = f"compute/v1/projects/{PROJECT}/global/backendServices/team-backend"
        before = set(w.compute())
        await w.create(protected(loadBalancer={"backendService": {"name": "team-backend"}}))
        obj = await w.wait_ready()
        after = w.gcp.state()[path]
        assert after["iap"]["enabled"] is True
        assert after["description"] == "owned by the platform team"  # only the iap block is ours
        assert set(w.compute()) == before  # nothing built
        assert obj["status"]["backendService"]["name"] == "team-backend"
        await w.delete()
        await w.wait_for(lambda o: o is None)
        assert path in w.gcp.state()  # never deleted: not ours
        iap_path = f"v1/projects/{NUMBER}/iap_web/compute/services/{after['id']}"
        assert members(w.policy(iap_path), "roles/iap.httpsResourceAccessor") == set()


async def test_all_users_invoker_works_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected(invoker="AllUsers"))
        obj = await w.wait_ready()
        assert "allUsers" in members(w.policy(RUN_PATH), "roles/run.invoker")
        assert condition(obj, "ConfigurationWarning") == "True"
        assert condition(obj, "ConfigurationWarning", "reason") == "AllUsersInvoker"
        # Back to the service agent: allUsers (granted by us) is revoked, the foreign binding stays.
        await w.patch_spec("hello", {"invoker": "IapServiceAgent"})
        await w.wait_for(
            lambda o: (
                o is not None
                and o["metadata"]["generation"] == 2
                and condition(o, "Ready") == "True"
                and o["status"]["observedGeneration"] == 2
            )
        )
        invokers = members(w.policy(RUN_PATH), "roles/run.invoker")
        assert "allUsers" not in invokers
        assert FOREIGN in invokers


async def test_http2_end_to_end_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch) as w:
        service = w.gcp.state()[RUN_PATH]
        template = service["template"]
        template["containers"][0]["ports"] = [{"name": "h2c", "containerPort": 8080}]
        w.gcp.mutate(RUN_PATH, {"template": template})
        await w.create(protected())
        obj = await w.wait_ready()
        assert condition(obj, "ConfigurationWarning") == "True"
        assert condition(obj, "ConfigurationWarning", "reason") == "Http2EndToEnd"
        assert "redirect loop" in str(condition(obj, "ConfigurationWarning", "message"))
