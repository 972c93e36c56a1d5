"""The scale benchmark: its pass counting, and a smoke run (N=2 at zero latency, N=1 realistic x0.02)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import scale
import watching


def _seen(name: str, synced: str | None, ready: bool) -> watching.Seen:
    status: dict[str, Any] = {"observedGeneration": 1}
    if synced:
        status["lastSyncTime"] = synced
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    return watching.Seen(0.0, "MODIFIED", {"metadata": {"name": name, "generation": 1}, "status": status})


def test_a_pass_is_a_new_last_sync_time_of_one_resource() -> None:
    tracker = scale.Tracker()
    history = [
        _seen("a", None, False),
        _seen("a", "t1", True),
        _seen("b", "t1", False),
        _seen("a", "t1", True),
    ]
    tracker.update(history)
    assert tracker.ready == {"a"}
    assert tracker.passes == 0  # first sync times are the apply's
    history += [_seen("a", "t2", True), _seen("b", "t2", True), _seen("a", "t3", True)]
    tracker.update(history)
    assert tracker.passes == 3
    assert tracker.ready == {"a", "b"}


def test_seed_and_resources_match() -> None:
    seeded = scale.seed(3)["projects"][0]["cloudRunServices"]
    assert [s["name"] for s in seeded] == [scale.resource(i)["spec"]["cloudRun"]["service"] for i in range(3)]
    assert sorted(scale.seed(3)["dns"]) == [f"svc-0000{i}.example.com" for i in range(3)]


@pytest.mark.timeout(300)  # six processes start (two runs, each operator started twice) on a shared machine
async def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    await scale.main(
        ["--sizes", "2", "--realistic", "1", "--scale", "0.02", "--resync", "1", "--resync-window", "30",
         "--max-seconds", "60", "--out", str(out)]
    )  # fmt: skip
    zero, realistic = json.loads(out.read_text())["runs"]
    for run in (zero, realistic):
        assert run.get("error") is None, run
        assert run["all_ready"]
        assert run["ready"] == run["n"]
        assert run["resync_passes"] >= run["n"]
        assert run["gcp_writes_per_resource_resync"] == 0  # a resync of up-to-date resources writes nothing
        assert run["gcp_reads_per_resource_resync"] > 0
        assert run["operator_cpu_per_resource_apply"] > 0
        assert run["peak_rss_mib"] > 0
        assert run["kube_requests_per_resource_apply"] > 0
    assert realistic["critical_path"] > 0
    assert realistic["ratio_to_bound"] >= 1.0  # nothing beats the critical path
