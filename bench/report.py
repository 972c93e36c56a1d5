"""The benchmark's figures: critical paths, ratios against them, the machine, and the printed summary."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import critical_path as cp
from runs import CERT_SECONDS_REALISTIC

from iap_sandbox.emulators.gcp.operations import LatencyProfile

TARGET_RATIO = 1.3


def paths(dag: cp.Dag = cp.DAG) -> dict[str, cp.Path]:
    """Critical paths in realistic seconds: Ready (provisioning at 30 s), Protected, and one whole pass."""
    table = cp.latencies(LatencyProfile.named("realistic"), provisioning=CERT_SECONDS_REALISTIC, dag=dag.ops)
    return {
        "ready": cp.critical_path(table, dag.ready, dag.ops),
        "protected": cp.critical_path(table, dag.protected, dag.ops),
        "first_pass": cp.critical_path(table, dag.first_pass, dag.ops),
    }


def path_json(path: cp.Path, scale: float) -> dict[str, Any]:
    return {
        "realistic_s": path.seconds,
        "scaled_s": round(path.seconds * scale, 6),
        "chain": cp.describe(path),
    }


def figure(times: Sequence[float], path_scaled: float) -> dict[str, Any]:
    median = statistics.median(times)
    return {
        "runs_s": [round(t, 4) for t in times],
        "median_s": round(median, 4),
        "critical_path_s": round(path_scaled, 6),
        "ratio": round(median / path_scaled, 3),
        "target": TARGET_RATIO,
        "meets_target": median / path_scaled <= TARGET_RATIO,
    }


def machine() -> dict[str, Any]:
    return {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def summary(result: Mapping[str, Any]) -> str:
    cfg, crit, steady = result["config"], result["critical_path"], result["steady_state"]
    verdict = {True: "meets", False: "MISSES"}

    def line(label: str, fig: Mapping[str, Any]) -> str:
        return (
            f"  {label}: median {fig['median_s']:.3f}s / critical path {fig['critical_path_s']:.3f}s "
            f"= {fig['ratio']:.3f} ({verdict[fig['meets_target']]} <= {TARGET_RATIO})"
        )

    first_pass = crit["first_pass"]["scaled_s"]
    lines = [
        f"apply-to-Ready, realistic latencies x{cfg['scale']}, {cfg['runs']} runs, "
        f"{result['machine']['nproc']} CPUs, Python {result['machine']['python']}",
        f"  operator: {cfg['operator']}",
        line("(a) Ready", result["ready"]),
        f"      path: {crit['ready']['chain']}",
        f"      {cfg['certificate_provisioning']['ready_figure']}",
        f"      extra GCP writes before Ready (beyond the DAG's one per operation): "
        f"{result['checks']['extra_writes_until_ready_per_run']}",
        line("(a') Ready, resync timer not ticking during the apply", result["ready_timer_after_apply"]),
        line("(b) Protected", result["protected"]),
        f"      path: {crit['protected']['chain']}",
        f"      vs one whole pass ({first_pass:.3f}s): {result['protected']['median_s'] / first_pass:.3f}",
        f"  steady state ({steady['resyncs_per_run']} resyncs every ~{steady['resync_period_s']}s): "
        f"{steady['calls_per_resync_per_resource']:g} GCP calls per resync per resource "
        f"({steady['reads_per_resync_per_resource']:g} reads, "
        f"{steady['writes_per_resync_per_resource']:g} writes; target 0 writes)",
    ]
    multi = result.get("multi_region")
    if multi:
        lines += [
            line(f"(c) Ready, one service in {len(multi['regions'])} regions", multi["ready"]),
            f"      path: {multi['critical_path']['ready']['chain']}",
            line("(c) Protected, same runs", multi["protected_in_ready_runs"]),
            f"      steady state: {multi['writes_per_resync']:g} writes per resync",
        ]
    return "\n".join(lines)
