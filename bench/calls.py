"""GCP calls from the emulator's request log: reads or writes, a short label, and a timeline."""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
READ_VERBS = (":getIamPolicy", ":testIamPermissions", "/wait")  # POSTs that only read
CONTROL_PREFIX = "/emulator/"
_OPERATION = re.compile(r"/operations/[^/:]+")
_NAMED = re.compile(
    r"/(backendServices|urlMaps|targetHttpsProxies|targetHttpProxies|forwardingRules|addresses|"
    r"sslCertificates|networkEndpointGroups|services|projects)/[^/:]+"
)


def is_write(record: Mapping[str, Any]) -> bool:
    return record["method"] in WRITE_METHODS and not str(record["path"]).endswith(READ_VERBS)


def gcp_calls(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if not str(r["path"]).startswith(CONTROL_PREFIX)]


def label(record: Mapping[str, Any]) -> str:
    """`GET compute/v1/projects/*/global/backendServices/*`: the call without names and ids."""
    path = _OPERATION.sub("/operations/*", str(record["path"]))
    path = _NAMED.sub(lambda m: f"/{m.group(1)}/*", path)
    return f"{record['method']} {path.lstrip('/')}"


def split(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Reads, writes and counts per label."""
    calls = gcp_calls(records)
    writes = [r for r in calls if is_write(r)]
    return {
        "reads": len(calls) - len(writes),
        "writes": len(writes),
        "by_call": dict(sorted(Counter(label(r) for r in calls).items())),
        "write_calls": sorted({label(r) for r in writes}),
    }


def wall_seconds(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def timeline(records: Iterable[Mapping[str, Any]], origin_wall: float) -> list[str]:
    """One line per call: start and end in seconds after `origin_wall` (time.time()), then the call."""
    lines = []
    for r in gcp_calls(records):
        start = wall_seconds(str(r["started"])) - origin_wall
        lines.append(f"{start:7.3f} {start + float(r['duration']):7.3f} {r['status']} {label(r)}")
    return lines
