"""The gcloud CLI against the emulator: a throw-away CLOUDSDK_CONFIG with endpoint overrides.

Setup, as a platform engineer would type it (URL = the emulator's base URL):

    gcloud config set auth/disable_credentials true
    gcloud config set core/project demo-project
    gcloud config set api_endpoint_overrides/compute URL/compute/v1/
    gcloud config set api_endpoint_overrides/run URL/
    gcloud config set api_endpoint_overrides/iap URL/
    gcloud config set api_endpoint_overrides/serviceusage URL/
    gcloud config set api_endpoint_overrides/cloudresourcemanager URL/

gcloud starts slowly (~0.5 s a command), so one emulator and one configuration serve the whole module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.demo_project import PROJECT, REGION, demo_project

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

GCLOUD = shutil.which("gcloud")
SEED: dict[str, Any] = {"projects": [demo_project(cloudRunServices=[{"name": "hello", "region": REGION}])]}


@dataclass
class Gcloud:
    """Runs gcloud with the throw-away configuration; `emulator` is the server it talks to."""

    emulator: GcpEmulatorThread
    env: dict[str, str]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert GCLOUD is not None
        return subprocess.run(
            [GCLOUD, *args, "--quiet"], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self(*args)
        assert result.returncode == 0, f"gcloud {' '.join(args)} failed:\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--format=json").stdout)


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def gcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gcloud]:
    if GCLOUD is None:
        pytest.skip("the gcloud CLI is not installed (looked for `gcloud` on PATH)")
    config_dir: Path = tmp_path_factory.mktemp("gcloud-config")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(config_dir),
        "CLOUDSDK_CONFIG": str(config_dir),
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
    }
    with GcpEmulatorThread(seed=SEED) as emulator:
        cli = Gcloud(emulator, env)
        url = emulator.url
        for key, value in [
            ("auth/disable_credentials", "true"),
            ("core/project", PROJECT),
            ("api_endpoint_overrides/compute", f"{url}/compute/v1/"),
            ("api_endpoint_overrides/run", f"{url}/"),
            ("api_endpoint_overrides/iap", f"{url}/"),
            ("api_endpoint_overrides/serviceusage", f"{url}/"),
            ("api_endpoint_overrides/cloudresourcemanager", f"{url}/"),
        ]:
            cli.ok("config", "set", key, value)
        # The load balancer's backend: a serverless NEG for `hello` and a global backend service on it.
        compute = f"{url}/compute/v1/projects/{PROJECT}"
        neg = {"name": "neg-hello", "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "hello"}}
        _post(f"{compute}/regions/{REGION}/networkEndpointGroups", neg)
        group = f"projects/{PROJECT}/regions/{REGION}/networkEndpointGroups/neg-hello"
        backend = {
            "name": "bs-hello",
            "loadBalancingScheme": "EXTERNAL_MANAGED",
            "backends": [{"group": group}],
        }
        _post(f"{compute}/global/backendServices", backend)
        yield cli
