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
    assert len(printed.splitlines()) < 80, "a compact table, not status dumps"
    assert '"status":' not in printed
    assert "OS signals are ignored" not in printed  # kopf's chatter is in the operator log
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


def test_a_timeout_says_so_and_names_what_is_not_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Cloud Run service the seed lacks: NotFound until --timeout, which the output names."""
    (tmp_path / "seed.yaml").write_text(
        yaml.safe_dump({"projects": [{"projectId": "demo-project", "projectNumber": "123456789012"}]})
    )
    code = sandbox.main(
        ["-f", str(EXAMPLES / "03-direct.yaml"), "--seed", str(tmp_path / "seed.yaml"), "--timeout", "3",
         "--dir", str(tmp_path / "sandbox")]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1
    assert "timed out after 3s (--timeout) waiting for Ready: 1 of 1 not Ready" in printed
    assert "default/reports: Ready=False NotFound: " in printed
    assert "result: FAILED (timed out after 3s waiting for Ready)" in printed
    assert str(tmp_path / "sandbox" / "operator.log") in printed


def test_every_flag_says_its_default() -> None:
    for action in sandbox.build_parser()._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.option_strings
            assert "(default: " in action.help, action.option_strings
