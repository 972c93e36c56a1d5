"""The cluster-name setting: a flag, an environment variable, a documented default, validated."""

from __future__ import annotations

import pytest

from iap_operator.engine.identity import DEFAULT_CLUSTER
from iap_operator.wiring.config import parse_args


def test_default_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IAP_OPERATOR_CLUSTER_NAME", raising=False)
    assert parse_args([]).cluster_name == DEFAULT_CLUSTER == "default"
    assert parse_args([]).settings().cluster_name == "default"
    monkeypatch.setenv("IAP_OPERATOR_CLUSTER_NAME", "prod-eu")
    assert parse_args([]).settings().cluster_name == "prod-eu"
    assert parse_args(["--cluster-name", "prod-us"]).settings().cluster_name == "prod-us"  # the flag wins


@pytest.mark.parametrize("bad", ["", "Prod", "prod_eu", "-prod", "a/b", "x" * 41])
def test_names_that_cannot_be_a_mark_are_refused(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--cluster-name", bad])
    assert "--cluster-name" in capsys.readouterr().err
