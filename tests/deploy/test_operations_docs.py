"""docs/operations.md's troubleshooting covers every condition reason the operator can write, and the
cases before there is a reason (no status at all, timeouts, missing credentials)."""

from __future__ import annotations

from pathlib import Path

from iap_operator.engine.conditions import Reason


def troubleshooting(repo: Path) -> str:
    text = (repo / "docs" / "operations.md").read_text()
    return text.split("## Troubleshooting by condition reason", 1)[1].split("\n## ", 1)[0]


def test_every_reason_has_a_row(repo: Path) -> None:
    section = troubleshooting(repo)
    missing = [reason.value for reason in Reason if f"`{reason.value}`" not in section]
    assert missing == []


def test_the_cases_before_a_reason_have_rows(repo: Path) -> None:
    section = troubleshooting(repo)
    for symptom in ("no status at all", "times out", "timed out after", "no Google credentials found"):
        assert symptom in section, symptom
