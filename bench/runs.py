"""One benchmark run each: fresh emulators and operator, the resource POSTed, times taken off the watch."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import calls
import watching
from world import RESOURCE, OperatorKnobs, Running, running

CERT_SECONDS_REALISTIC = 30.0  # figure (a): provisioning at this many realistic seconds, scaled like the rest
PROVISIONING_SETTING = "compute.managedCertificateSeconds"


@dataclass(frozen=True)
class ReadyRun:
    ready_s: float
    protected_s: float
    writes_until_ready: list[str]  # labels of the GCP writes between the POST and Ready
    steady: dict[str, Any] | None  # GCP calls per resync (None: not measured)
    versions: list[str]  # every watched version until Ready: time, conditions
    gcp_timeline: list[str]  # every GCP call until Ready: start, end, status, call


def _version_line(seen: watching.Seen, origin: float) -> str:
    status = seen.obj.get("status") or {}
    conds = " ".join(
        f"{c['type']}={c['status']}" for c in status.get("conditions") or [] if c["type"] != "Stalled"
    )
    rv = seen.obj["metadata"].get("resourceVersion")
    return f"{seen.at - origin:7.3f} rv={rv} {seen.type} {conds or '(no status)'}"


def _last_sync(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("status") or {}).get("lastSyncTime")
    return None if value is None else str(value)


async def steady_state(run: Running, watch: watching.Watch, after: int, resyncs: int) -> dict[str, Any]:
    """Count the GCP calls of `resyncs` passes, each ended by a new status.lastSyncTime.

    The calls between the first new lastSyncTime after Ready and the (resyncs+1)-th are `resyncs` whole
    passes: a pass logs its last GCP call before it writes its lastSyncTime."""
    last = _last_sync(watch.history[after].obj)
    marks: list[int] = []  # request-log length when each new lastSyncTime is seen
    index = after
    period = run.config.resync_override or 1.0
    while len(marks) < resyncs + 1:

        def newer(obj: Mapping[str, Any], previous: str | None = last) -> bool:
            return _last_sync(obj) not in {None, previous}

        index, seen = await watch.first(newer, within=10 * period + 10, after=index + 1)
        last = _last_sync(seen.obj)
        marks.append(len(run.gcp.requests()))
    split = calls.split(run.gcp.requests()[marks[0] : marks[-1]])
    per = float(resyncs)
    return {
        "reads_per_resync": split["reads"] / per,
        "writes_per_resync": split["writes"] / per,
        "calls_per_resync": (split["reads"] + split["writes"]) / per,
        "by_call_per_resync": {k: v / per for k, v in split["by_call"].items()},
        "write_calls": split["write_calls"],
    }


async def ready_run(
    scale: float,
    knobs: OperatorKnobs,
    resyncs: int,
    within: float,
    resource: Mapping[str, Any] = RESOURCE,
) -> ReadyRun:
    """Figure (a): provisioning scaled like the rest; Ready and Protected times, then (if `resyncs`) the
    steady state."""
    settings = {PROVISIONING_SETTING: CERT_SECONDS_REALISTIC * scale}
    async with running(scale, knobs, settings) as run, watching.Watch(run.session, run.collection) as watch:
        origin_wall, origin = time.time(), time.monotonic()
        await run.create(resource)
        _, protected = await watch.first(watching.is_protected, within)
        ready_index, ready = await watch.first(watching.is_ready, within)
        until_ready = run.gcp.requests()
        steady = await steady_state(run, watch, ready_index, resyncs) if resyncs else None
        return ReadyRun(
            ready_s=ready.at - origin,
            protected_s=protected.at - origin,
            writes_until_ready=[calls.label(r) for r in calls.gcp_calls(until_ready) if calls.is_write(r)],
            steady=steady,
            versions=[_version_line(s, origin) for s in watch.history[: ready_index + 1]],
            gcp_timeline=calls.timeline(until_ready, origin_wall),
        )


async def protected_run(scale: float, knobs: OperatorKnobs, within: float) -> float:
    """Figure (b): the unmodified realistic table (provisioning 900 s scaled); time to Protected=True."""
    async with running(scale, knobs) as run, watching.Watch(run.session, run.collection) as watch:
        origin = time.monotonic()
        await run.create(RESOURCE)
        _, protected = await watch.first(watching.is_protected, within)
        return protected.at - origin
