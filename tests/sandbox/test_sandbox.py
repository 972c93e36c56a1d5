"""`iap-operator sandbox`, the README's run command, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from iap_sandbox import sandbox

pytestmark = pytest.mark.timeout(120)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_examples_converge_and_delete_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sandbox.json"
    code = sandbox.main(["-f", str(EXAMPLES), "--delete", "--json", str(out), "--timeout", "60"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "result: OK" in printed
    report = json.loads(out.read_text())
    assert set(report) == {"resources", "gcp", "requests", "after_delete"}
    applied = [d for d in sandbox.load_manifests([str(EXAMPLES)]) if d.get("kind") == "IapProtectedService"]
    assert len(report["resources"]) == len(applied) >= 6
    for obj in report["resources"]:
        ready = {c["type"]: c["status"] for c in obj["status"]["conditions"]}["Ready"]
        assert ready == "True", obj["metadata"]["name"]
    assert any(k.startswith("compute/v1/") for k in report["gcp"])
    assert report["requests"], "the request log is included"
    abandon = {  # the marks name the owner (cluster/namespace/name), managed or released
        f"for {o['status']['owner']}{end}"
        for o in report["resources"]
        if o["spec"].get("deletionPolicy") == "Abandon"
        for end in (" (", ",")
    }
    assert abandon
    left = [
        path
        for path, res in report["after_delete"].items()
        if path.startswith("compute/")
        and "iap-operator" in str(res.get("description", ""))
        and not any(owner in json.dumps(res) for owner in abandon)
    ]
    assert left == []


def test_an_invalid_manifest_is_reported_and_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {
        "apiVersion": "iap-operator.dev/v1alpha1",
        "kind": "IapProtectedService",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {
            "cloudRun": {"service": "Hello_World", "region": "us-central1"},
            "loadBalancer": {"domains": []},
        },
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    code = sandbox.main(["-f", str(tmp_path / "bad.yaml"), "--timeout", "5"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "REJECTED IapProtectedService default/bad" in printed
    assert "spec.cloudRun.service" in printed
