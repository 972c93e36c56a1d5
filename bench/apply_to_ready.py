"""Apply-to-Ready benchmark: one IapProtectedService against the emulators' realistic latency profile.

    python bench/apply_to_ready.py [--scale S] [--runs N] [--out bench/results.json]

Per run: fresh emulators (realistic latencies times --scale) and the real operator in this process; POST
the resource, then take the times of the first watch events with Ready=True (and Protected=True) for the
current generation. The ratio is that time over the critical path of the GCP operations, computed from the
same latency table (critical_path.py). After Ready, the operator (started with a short resync period)
resyncs N times and the GCP calls of those passes are counted. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import critical_path as cp
import report
from runs import CERT_SECONDS_REALISTIC, protected_run, ready_run
from world import MULTI_REGION_RESOURCE, RESOURCE, OperatorKnobs


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    scale = args.scale
    knobs = OperatorKnobs(
        poll_interval=args.poll_interval, resync_override=args.resync, resync_tick=args.resync / 4
    )
    paths = report.paths()
    ready_path = paths["ready"].seconds * scale
    within = max(60.0, 20 * ready_path)
    ready_runs = [await ready_run(scale, knobs, args.resyncs, within) for _ in range(args.runs)]
    # The same, with the resync timer's first tick after Ready: what the operator does without the timer
    # pass that queues behind the first pass (see README, "Findings").
    quiet = replace(knobs, resync_tick=10 * ready_path)
    quiet_runs = [await ready_run(scale, quiet, 0, within) for _ in range(args.runs)]
    protected_times = [await protected_run(scale, knobs, within) for _ in range(args.runs)]
    multi_dag = cp.dag_of(MULTI_REGION_RESOURCE)
    multi_paths = report.paths(multi_dag)
    multi_runs = [
        await ready_run(scale, knobs, args.resyncs, within, MULTI_REGION_RESOURCE) for _ in range(args.runs)
    ]
    multi_steady = [r.steady for r in multi_runs if r.steady is not None]
    dag_calls = sum(1 for op in cp.LOAD_BALANCER_DAG if op.key != cp.PROVISION)
    steady = [r.steady for r in ready_runs if r.steady is not None]
    protected_path = paths["protected"].seconds * scale
    return {
        "benchmark": "apply-to-ready",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "config": {
            "latency_profile": "realistic (iap_sandbox/emulators/gcp/operations.py REALISTIC_LATENCIES)",
            "scale": scale,
            "runs": args.runs,
            "certificate_provisioning": {
                "ready_figure": f"compute.managedCertificateSeconds = {CERT_SECONDS_REALISTIC:g} s "
                f"realistic-equivalent ({CERT_SECONDS_REALISTIC * scale:g} s scaled)",
                "protected_figure": "the table's 900 s (scaled); never waited for: Protected does not "
                "depend on the certificate",
            },
            "operator": asdict(knobs) | {"other": "Config defaults (workers 20, gcp_threads 16)"},
            "operator_timer_after_apply": asdict(quiet),
            "resource": RESOURCE,
        },
        "critical_path": {name: report.path_json(path, scale) for name, path in paths.items()},
        "ready": report.figure([r.ready_s for r in ready_runs], ready_path),
        "ready_timer_after_apply": report.figure([r.ready_s for r in quiet_runs], ready_path),
        "protected": report.figure(protected_times, protected_path),
        "protected_in_ready_runs": report.figure([r.protected_s for r in ready_runs], protected_path),
        "steady_state": {
            "resync_period_s": args.resync,
            "resyncs_per_run": args.resyncs,
            "resources": 1,
            "calls_per_resync_per_resource": statistics.median(s["calls_per_resync"] for s in steady),
            "reads_per_resync_per_resource": statistics.median(s["reads_per_resync"] for s in steady),
            "writes_per_resync_per_resource": statistics.median(s["writes_per_resync"] for s in steady),
            "writes_target": 0,
            "by_call_per_resync": steady[0]["by_call_per_resync"],
            "write_calls": sorted({c for s in steady for c in s["write_calls"]}),
        },
        "multi_region": {
            "resource": MULTI_REGION_RESOURCE,
            "regions": MULTI_REGION_RESOURCE["spec"]["cloudRun"]["regions"],
            "critical_path": {name: report.path_json(path, scale) for name, path in multi_paths.items()},
            "ready": report.figure([r.ready_s for r in multi_runs], multi_paths["ready"].seconds * scale),
            "protected_in_ready_runs": report.figure(
                [r.protected_s for r in multi_runs], multi_paths["protected"].seconds * scale
            ),
            "writes_per_resync": statistics.median(s["writes_per_resync"] for s in multi_steady),
            "reads_per_resync": statistics.median(s["reads_per_resync"] for s in multi_steady),
            "writes_until_ready_first_run": multi_runs[0].writes_until_ready,
        },
        "checks": {
            "dag_operations_with_a_call": dag_calls,
            "extra_writes_until_ready_per_run": [len(r.writes_until_ready) - dag_calls for r in ready_runs],
            "extra_writes_until_ready_timer_after_apply": [
                len(r.writes_until_ready) - dag_calls for r in quiet_runs
            ],
            "writes_until_ready_first_run": ready_runs[0].writes_until_ready,
        },
        "profile_first_run": {
            "status_versions": ready_runs[0].versions,
            "gcp_calls": ready_runs[0].gcp_timeline,
        },
        "profile_first_run_timer_after_apply": {
            "status_versions": quiet_runs[0].versions,
            "gcp_calls": quiet_runs[0].gcp_timeline,
        },
    }


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=0.05, help="latency scale (default 0.05)")
    p.add_argument("--runs", type=int, default=5, help="runs per figure; the median is reported")
    p.add_argument("--out", default="bench/results.json", help="where to write the JSON")
    p.add_argument("--poll-interval", type=float, default=0.2, help="operator poll interval, seconds")
    p.add_argument("--resync", type=float, default=0.5, help="operator resync_override, seconds")
    p.add_argument("--resyncs", type=int, default=5, help="steady-state passes counted per run")
    args = p.parse_args(list(argv))
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("kopf").setLevel(logging.CRITICAL)  # TemporaryError is how the operator polls
    result = asyncio.run(benchmark(args))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(report.summary(result))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
