"""What the operator built, as a platform engineer sees it through gcloud (a client nobody here wrote)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import NUMBER, PROJECT, REGION, protected, world

GCLOUD = shutil.which("gcloud")
pytestmark = [
    pytest.mark.gcloud,
    pytest.mark.timeout(90),
    pytest.mark.skipif(
        GCLOUD is None, reason="the gcloud CLI is not installed (looked for `gcloud` on PATH)"
    ),
]


async def gcloud(url: str, home: Path, *args: str) -> Any:
    """gcloud with a throw-away configuration pointed at the emulator (properties as environment)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "CLOUDSDK_CONFIG": str(home),
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_PROJECT": PROJECT,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": f"{url}/compute/v1/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": f"{url}/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_IAP": f"{url}/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER": f"{url}/",
    }
    assert GCLOUD is not None
    proc = await asyncio.create_subprocess_exec(
        GCLOUD, *args, "--format=json", "--quiet", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"gcloud {' '.join(args)}: {err.decode()}"
    return json.loads(out)


def members(policy: dict[str, Any], role: str) -> set[str]:
    return {m for b in policy.get("bindings", []) if b["role"] == role for m in b["members"]}


async def test_gcloud_sees_iap_and_every_binding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected())
        obj = await w.wait_ready()
        name = obj["status"]["backendService"]["name"]
        home = tmp_path / "gcloud"
        home.mkdir()
        backend, iap_policy, run_policy = await asyncio.gather(
            gcloud(w.gcp.url, home, "compute", "backend-services", "describe", name, "--global"),
            gcloud(w.gcp.url, home, "iap", "web", "get-iam-policy", "--resource-type=backend-services",
                   f"--service={name}"),
            gcloud(w.gcp.url, home, "run", "services", "get-iam-policy", "hello", f"--region={REGION}"),
        )  # fmt: skip
        assert backend["iap"]["enabled"] is True
        assert backend["id"] == obj["status"]["backendService"]["id"]
        assert members(iap_policy, "roles/iap.httpsResourceAccessor") == {
            "user:alice@example.com",
            "group:devs@example.com",
        }
        agent = f"serviceAccount:service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"
        assert agent in members(run_policy, "roles/run.invoker")
