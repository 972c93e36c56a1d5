"""What goes wrong: conflicts, missing dependencies, refused projects, injected faults, secret hygiene."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import PROJECT, REGION, condition, is_ready, protected, world
from tests.e2e.owners import ownership_of

pytestmark = pytest.mark.timeout(60)
SECRET = "s3cr3t-value-that-must-never-leak"


async def test_unmarked_resource_with_our_name_is_a_management_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch, start=False) as w:
        obj = await w.create(protected())
        name = ownership_of(obj).resource_name("neg")
        path = f"compute/v1/projects/{PROJECT}/regions/{REGION}/networkEndpointGroups/{name}"
        async with w.session.post(
            f"{w.gcp.url}/compute/v1/projects/{PROJECT}/regions/{REGION}/networkEndpointGroups",
            json={"name": name, "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "billing"}},
        ) as resp:
            assert resp.status == 200
        before = w.gcp.state()[path]
        await w.start()
        obj = await w.wait_for(lambda o: condition(o, "LoadBalancerReady", "reason") == "ManagementConflict")
        assert condition(obj, "Ready") == "False"
        assert condition(obj, "Stalled") == "True"
        assert w.gcp.state()[path] == before  # untouched


async def test_missing_cloud_run_service_means_no_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        mark = len(w.gcp.requests())
        await w.create(protected(cloudRun={"service": "nowhere", "region": REGION}))
        obj = await w.wait_for(lambda o: condition(o, "Ready", "reason") == "NotFound")
        assert "nowhere" in str(condition(obj, "Ready", "message"))
        assert w.writes(mark) == []


async def test_missing_secret_means_no_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch) as w:
        mark = len(w.gcp.requests())
        await w.create(protected(oauthClient={"secretRef": {"name": "oauth"}}))
        obj = await w.wait_for(lambda o: condition(o, "Ready", "reason") == "NotFound")
        assert "Secret default/oauth" in str(condition(obj, "Ready", "message"))
        assert w.writes(mark) == []
        # The Secret appears later: the resource converges without a spec change.
        await w.create_secret(
            "oauth", {"client_id": "1234.apps.googleusercontent.com", "client_secret": SECRET}
        )
        await w.wait_ready(within=30)


async def test_project_not_allowed_for_namespace_is_refused_without_cloud_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch, allowed_projects="other=demo-project", default_project=None) as w:
        mark = len(w.gcp.requests())
        await w.create(protected())
        obj = await w.wait_for(lambda o: condition(o, "Ready", "reason") == "PermissionDenied")
        assert condition(obj, "Stalled") == "True"
        assert w.gcp.requests()[mark:] == []


async def test_custom_oauth_secret_never_leaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world(tmp_path, monkeypatch) as w:
        await w.create_secret(
            "oauth", {"client_id": "1234.apps.googleusercontent.com", "client_secret": SECRET}
        )
        await w.create(protected(oauthClient={"secretRef": {"name": "oauth"}}))
        obj = await w.wait_ready()
        bs_path = next(p for p in w.compute() if "/backendServices/" in p)
        iap = w.gcp.state()[bs_path]["iap"]
        assert iap["oauth2ClientId"] == "1234.apps.googleusercontent.com"
        assert "oauth2ClientSecret" not in iap
        assert iap["oauth2ClientSecretSha256"] == hashlib.sha256(SECRET.encode()).hexdigest()
        assert SECRET not in str(obj)
        assert SECRET not in str(await w.events())
        assert SECRET not in caplog.text


@pytest.mark.parametrize("status", [429, 503])
async def test_faults_on_every_endpoint_still_converge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    async with world(tmp_path, monkeypatch, start=False) as w:
        # Every API path fails twice (each method), then recovers.
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            w.gcp.add_fault(
                method=method,
                path=r"^/(compute|v1|v2|v1beta1|v3)/",
                status=status,
                count=2,
                retry_after=0.05 if status == 429 else None,
            )
        await w.start()
        await w.create(protected())
        obj: dict[str, Any] = await w.wait_ready(within=40)
        assert is_ready(obj)
        assert any(r["status"] == status for r in w.gcp.requests())
