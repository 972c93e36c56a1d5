"""spec.iapSettings: declared settings applied with a field mask, repaired after an out-of-band change,
undeclared settings untouched, the second pass of an up-to-date object writes nothing; refused specs
never reach GCP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import GROUP, NUMBER, PLURAL, REGION, VERSION, World, condition, protected, world

pytestmark = pytest.mark.timeout(60)

SETTINGS = {
    "accessSettings": {
        "corsSettings": {"allowHttpOptions": True},
        "reauthSettings": {"method": "SECURE_KEY", "maxAge": "3600s", "policyType": "MINIMUM"},
        "oauthSettings": {"programmaticClients": ["123456789012-abc.apps.googleusercontent.com"]},
    },
    "applicationSettings": {"attributePropagationSettings": {"expression": "attributes.iap_attributes",
                                                             "outputCredentials": ["HEADER"]}},
}  # fmt: skip


async def set_out_of_band(w: World, resource: str, body: dict[str, Any], mask: str) -> None:
    """What `gcloud iap settings set` does: a PATCH with an update mask."""
    url = f"{w.gcp.url}/v1/{resource}:iapSettings"
    async with w.session.patch(url, json=body, params={"updateMask": mask, "setup": "test"}) as resp:
        assert resp.status == 200, await resp.text()


def stored(w: World, resource: str) -> dict[str, Any]:
    return dict(w.gcp.state().get(f"v1/{resource}:iapSettings") or {})


def settings_writes(w: World, since: int = 0) -> list[dict[str, Any]]:
    return [r for r in w.writes(since) if r["path"].endswith(":iapSettings") and "setup" not in r["query"]]


async def reconcile_now(w: World, name: str, token: str) -> None:
    body = {"metadata": {"annotations": {"reconcile.iap-operator.dev/requested-at": token}}}
    url = f"{w.kube_url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/{name}"
    headers = {"Content-Type": "application/merge-patch+json"}
    async with w.session.patch(url, json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def test_direct_mode_settings_applied_repaired_and_the_rest_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = f"projects/{NUMBER}/iap_web/cloud_run-{REGION}/services/hello"
    async with world(tmp_path, monkeypatch) as w:
        # Someone else's setting, not in the spec: it must survive every pass.
        await set_out_of_band(
            w, resource, {"applicationSettings": {"cookieDomain": "corp.example"}},
            "iapSettings.applicationSettings.cookieDomain",
        )  # fmt: skip
        body = protected(mode="Direct", iapSettings=SETTINGS)
        del body["spec"]["loadBalancer"]
        await w.create(body)
        obj = await w.wait_ready()
        assert condition(obj, "IapSettingsApplied") == "True"
        have = stored(w, resource)
        assert have["accessSettings"]["corsSettings"] == {"allowHttpOptions": True}
        assert have["accessSettings"]["reauthSettings"] == SETTINGS["accessSettings"]["reauthSettings"]
        assert have["accessSettings"]["oauthSettings"]["programmaticClients"] == [
            "123456789012-abc.apps.googleusercontent.com"
        ]
        assert have["applicationSettings"]["attributePropagationSettings"]["enable"] is True  # the default
        assert have["applicationSettings"]["cookieDomain"] == "corp.example"
        (write,) = settings_writes(w)
        mask = set(write["query"]["updateMask"].split(","))
        assert "iapSettings.accessSettings.reauthSettings" in mask  # written whole, as Google requires
        assert "iapSettings.applicationSettings.cookieDomain" not in mask

        # Nothing changed: a second pass reads and writes nothing.
        since = len(w.gcp.requests())
        await reconcile_now(w, "hello", "1")
        await w.wait_for(lambda o: o is not None and o["status"].get("lastSyncTime") != obj["status"].get(
            "lastSyncTime"))  # fmt: skip
        assert settings_writes(w, since) == []

        # Out-of-band change of a declared setting and of an undeclared one: only the declared is repaired.
        await set_out_of_band(
            w, resource,
            {"accessSettings": {"corsSettings": {"allowHttpOptions": False}},
             "applicationSettings": {"cookieDomain": "other.example"}},
            "iapSettings.accessSettings.corsSettings.allowHttpOptions,iapSettings.applicationSettings.cookieDomain",
        )  # fmt: skip
        await reconcile_now(w, "hello", "2")
        await w.wait_for(
            lambda _: stored(w, resource)["accessSettings"]["corsSettings"] == {"allowHttpOptions": True}
        )
        assert stored(w, resource)["applicationSettings"]["cookieDomain"] == "other.example"
        repair = settings_writes(w, since)[-1]
        assert repair["query"]["updateMask"] == "iapSettings.accessSettings.corsSettings.allowHttpOptions"


async def test_load_balancer_settings_go_on_the_backend_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected(iapSettings={"applicationSettings": {"cookieDomain": "example.com"}}))
        obj = await w.wait_ready()
        assert condition(obj, "IapSettingsApplied") == "True"
        bs_id = obj["status"]["backendService"]["id"]
        resource = f"projects/{NUMBER}/iap_web/compute/services/{bs_id}"
        assert stored(w, resource)["applicationSettings"] == {"cookieDomain": "example.com"}


async def test_invalid_settings_are_refused_with_no_cloud_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        body = protected(iapSettings={"accessSettings": {"reauthSettings": {"method": "LOGIN"}}})
        url = f"{w.kube_url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"
        async with w.session.post(url, json=body) as resp:
            assert resp.status == 422, await resp.text()
            answer = await resp.json()
        assert "reauthSettings" in str(answer)
        assert w.writes() == []
        assert await w.get() is None
