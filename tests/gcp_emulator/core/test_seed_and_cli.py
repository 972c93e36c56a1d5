"""Seed files and the `iap-operator gcp-emulator` command."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from iap_sandbox.emulators.gcp.core import GoogleError
from iap_sandbox.emulators.gcp.seed import parse_seed, read_seed_file
from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread
from iap_sandbox.emulators.gcp.world import World

from .conftest import NUMBER, PROJECT, SEED

SEED_YAML = f"""
projects:
  - projectId: {PROJECT}
    projectNumber: "{NUMBER}"
    permissions: [run.services.get]
    iamPolicies:
      "compute/v1/projects/{PROJECT}/global/backendServices/bs":
        {{bindings: [{{role: roles/iap.httpsResourceAccessor, members: [user:ops@example.com]}}]}}
  - projectId: second-project
    projectNumber: 42
"""


def test_seed_file_loads_projects_permissions_and_policies(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED_YAML)
    world = World()
    world.load_seed(read_seed_file(path))
    project = world.projects.require(NUMBER)  # by number
    assert project.project_id == PROJECT
    assert project.permissions == frozenset({"run.services.get"})
    assert world.projects.require("second-project").number == "42"  # an integer number is fine
    assert world.projects.require("second-project").permissions is None  # default: everything
    policy = world.iam.get(f"compute/v1/projects/{PROJECT}/global/backendServices/bs")
    assert policy["bindings"] == [
        {"role": "roles/iap.httpsResourceAccessor", "members": ["user:ops@example.com"]}
    ]
    assert policy["etag"] != "ACAB"


def test_seed_hooks_see_each_project_entry() -> None:
    world = World()
    seen: list[tuple[str, object]] = []
    world.seed_hooks.append(lambda _, project, raw: seen.append((project.project_id, raw.get("custom"))))
    world.load_seed({"projects": [{"projectId": PROJECT, "projectNumber": NUMBER, "custom": [1, 2]}]})
    assert seen == [(PROJECT, [1, 2])]
    world.reset()  # reset replays the seed through the hooks
    assert seen == [(PROJECT, [1, 2])] * 2


@pytest.mark.parametrize(
    "bad",
    [
        {"projects": [{"projectId": PROJECT}]},
        {"projects": [{"projectId": "Bad_Id", "projectNumber": "1"}]},
        {"projects": [{"projectId": PROJECT, "projectNumber": "12ab"}]},
        {"projects": "nope"},
    ],
)
def test_invalid_seed(bad: dict[str, object]) -> None:
    with pytest.raises(GoogleError) as caught:
        parse_seed(bad)
    assert caught.value.code == 400


def test_thread_emulator_for_synchronous_code() -> None:
    with GcpEmulatorThread(seed=SEED) as emu:
        response = requests.get(f"{emu.url}/compute/v1/projects/{PROJECT}/global/addresses", timeout=10)
        assert response.status_code == 200
        rule = emu.add_fault(status=503, count=1)
        assert rule.startswith("fault-")
        assert (
            requests.get(f"{emu.url}/compute/v1/projects/{PROJECT}/global/addresses", timeout=10).status_code
            == 503
        )
        assert [r["status"] for r in emu.requests()] == [200, 503]
        emu.reset()
        assert emu.requests() == []
        assert any(path.endswith(":iamPolicy") for path in emu.state())


def test_command_serves_until_stopped(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump(SEED))
    command = [sys.executable, "-m", "iap_operator", "gcp-emulator", "--host", "127.0.0.1", "--port", "0"]
    command += ["--seed", str(seed), "--latency-profile", "realistic"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # printed once the port is bound
            match = re.search(r"http://127\.0\.0\.1:\d+", line)
            assert match, line
            url = match.group(0)
            response = requests.post(
                f"{url}/compute/v1/projects/{PROJECT}/global/addresses", json={"name": "ip"}, timeout=10
            )
            assert response.json()["status"] == "RUNNING"  # the realistic profile: not done at once
            state = requests.get(f"{url}/emulator/v1/state", timeout=10).json()
            assert f"compute/v1/projects/{PROJECT}/global/backendServices/bs:iamPolicy" in state
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=15)
    assert code == 0
