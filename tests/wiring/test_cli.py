"""The `iap-operator` command explains itself: --version, every `run` flag's help, default and
variable, one clear line without Google credentials, and a startup banner without secrets."""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from iap_operator import cli
from iap_operator.wiring import banner
from iap_operator.wiring.config import ENV_PREFIX, Config, build_parser, parse_args

REPO = Path(__file__).resolve().parents[2]


def run_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--help"])
    assert exit_.value.code == 0
    return "".join(capsys.readouterr().out.split())  # argparse wraps lines, also after hyphens


def flags() -> list[argparse.Action]:
    return [a for a in build_parser()._actions if a.option_strings and a.dest != "help"]


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"iap-operator {declared}"


def test_every_run_flag_shows_its_help_default_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    text = run_help(capsys)
    assert len(flags()) >= 21
    for action in flags():
        assert action.help, f"{action.option_strings} has no help"
        help_ = " ".join(action.help.split())
        match = re.search(r"\(default: ([^;]+); env (IAP_OPERATOR_[A-Z_<>]+)", help_)
        assert match, f"{action.option_strings[0]}: help must end with (default: ...; env IAP_OPERATOR_...)"
        assert "".join(help_.split()) in text, f"{action.option_strings[0]}'s help is not in `run --help`"
        assert action.option_strings[0] in text


def test_a_variable_sets_the_default_and_a_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}WORKERS", "7")
    monkeypatch.setenv(f"{ENV_PREFIX}BACKOFF_MAX", "12.5")
    monkeypatch.setenv(f"{ENV_PREFIX}VERBOSE", "true")
    monkeypatch.setenv(f"{ENV_PREFIX}NAMESPACES", "team-a, team-b")
    monkeypatch.setenv(f"{ENV_PREFIX}ENDPOINT_COMPUTE", "http://127.0.0.1:9")
    monkeypatch.setenv(f"{ENV_PREFIX}DEFAULT_PROJECT", "")  # empty is unset, as the Deployment ships it
    config = parse_args([])
    assert (config.workers, config.backoff_max, config.verbose) == (7, 12.5, True)
    assert config.namespaces == ("team-a", "team-b")
    assert config.endpoints == {"compute": "http://127.0.0.1:9"}
    assert config.default_project is None
    config = parse_args(["--workers=3", "-n", "team-c", "--endpoint", "compute=http://127.0.0.1:8"])
    assert (config.workers, config.namespaces) == (3, ("team-c",))
    assert config.endpoints == {"compute": "http://127.0.0.1:8"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("WORKERS", "many"), ("GCP_QPS", "-1"), ("VERBOSE", "perhaps"), ("LOG_FORMAT", "xml")],
)
def test_a_bad_variable_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}{name}", value)
    with pytest.raises(SystemExit) as exit_:
        parse_args([])
    assert exit_.value.code == 2
    assert f"{ENV_PREFIX}{name}={value!r}" in capsys.readouterr().err


def test_missing_google_credentials_is_one_clear_line(tmp_path: Path) -> None:
    """No ADC anywhere (no key, no gcloud login, no metadata server): one line, no traceback."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "NO_GCE_CHECK": "True",  # google-auth: do not probe the metadata server
        "KUBECONFIG": str(tmp_path / "absent"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "iap_operator", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("iap-operator run: no Google credentials found.")
    for hint in ("Workload Identity", "GOOGLE_APPLICATION_CREDENTIALS", "--anonymous-credentials"):
        assert hint in errors[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_banner_names_what_the_operator_touches_and_no_secret(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    config = Config(
        namespaces=("team-a", "team-b"),
        default_project="acme-prod",
        allowed_projects="team-a=acme-prod",
        endpoints={"compute": "http://user:hunter2@127.0.0.1:8085"},
        anonymous=True,
        gcp_qps=5,
        lease_name="iap-operator-leader",
        lease_namespace="iap-operator-system",
        identity="pod-1",
    )
    with caplog.at_level(logging.INFO, logger="iap_operator.startup"):
        banner.announce(config)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(r"iap-operator \S+ starting", text)
    for expected in (
        "team-a, team-b",
        "acme-prod",
        "team-a=acme-prod",
        "anonymous",
        "compute=http://127.0.0.1:8085",
        "Google's for run",
        "spread by one scheduler",
        "5 calls/s",
        "iap-operator-system/iap-operator-leader (identity pod-1)",
        "cluster:",
    ):
        assert expected in text, expected
    assert "hunter2" not in text
    assert "user:" not in text


def test_the_operations_guide_lists_every_flag_and_variable() -> None:
    docs = (REPO / "docs" / "operations.md").read_text()
    table = docs.split("## Configuration: the `iap-operator run` contract", 1)[1].split("\n## ", 1)[0]
    for action in flags():
        assert f"`{action.option_strings[0]}" in table, action.option_strings[0]
        match = re.search(r"env (IAP_OPERATOR_[A-Z_<>]+)", " ".join((action.help or "").split()))
        assert match, action.option_strings[0]
        assert f"`{match.group(1)}`" in table, match.group(1)
