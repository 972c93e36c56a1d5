"""`--shard NAME`: a shard needs its namespaces and holds its own Lease."""

from __future__ import annotations

import pytest

from iap_operator.wiring.config import parse_args


def test_a_shard_holds_the_lease_named_after_it() -> None:
    config = parse_args(["--shard=b", "--namespace=team-b", "--lease-name=iap-operator-leader"])
    assert config.shard == "b"
    assert config.namespaces == ("team-b",)
    assert config.lease_name == "iap-operator-leader-b"


def test_the_shard_and_its_namespaces_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAP_OPERATOR_SHARD", "a")
    monkeypatch.setenv("IAP_OPERATOR_NAMESPACES", "team-a,team-a-*")
    monkeypatch.setenv("IAP_OPERATOR_LEASE_NAME", "leader")
    config = parse_args([])
    assert (config.shard, config.namespaces, config.lease_name) == ("a", ("team-a", "team-a-*"), "leader-a")


@pytest.mark.parametrize(
    "argv",
    [
        ["--shard=a"],  # every namespace: it would do the other shards' work
        ["--shard=a", "--namespace=!kube-system"],  # only exclusions: still every other namespace
        ["--shard=A_1", "--namespace=team-a"],  # not a name that can end a Lease's name
    ],
)
def test_a_shard_without_its_own_namespaces_or_with_a_bad_name_does_not_start(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert "shard" in capsys.readouterr().err


def test_without_a_shard_nothing_changes() -> None:
    config = parse_args(["--lease-name=iap-operator-leader"])
    assert config.shard is None
    assert config.lease_name == "iap-operator-leader"
