"""The leader-election and retry flags: flag, IAP_OPERATOR_* variable, Config default, validation."""

from __future__ import annotations

import pytest

from iap_operator.gcp.retries import RetryPolicy
from iap_operator.wiring.config import Config, parse_args


def test_defaults_are_client_gos_and_the_retry_policys() -> None:
    config = parse_args([])
    assert (config.lease_duration, config.lease_renew_deadline, config.lease_retry_period) == (15, 10, 2)
    assert config.gcp().retry == RetryPolicy(deadline=30, initial=0.25, max_pause=8)
    assert config.gcp().retry_budget_ratio == 3


def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAP_OPERATOR_LEASE_DURATION", "30")
    monkeypatch.setenv("IAP_OPERATOR_GCP_CALL_DEADLINE", "5")
    config = parse_args(["--gcp-call-deadline=7", "--lease-renew-deadline=20"])
    assert config.lease_duration == 30
    assert config.lease_renew_deadline == 20
    assert config.gcp().retry.deadline == 7


@pytest.mark.parametrize(
    "argv",
    [
        ["--lease-duration=10", "--lease-renew-deadline=10"],
        ["--lease-renew-deadline=2", "--lease-retry-period=2"],
        ["--gcp-retry-initial=0"],
        ["--gcp-call-deadline=-1"],
    ],
)
def test_impossible_timing_is_refused_at_start(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert "error:" in capsys.readouterr().err


def test_config_defaults_match_the_flags() -> None:
    assert parse_args([]).gcp().retry == Config().gcp().retry
