"""The sandbox's live table: every IapProtectedService in one line, and the latest Event.

`Board` holds what the watches reported; `Board.render()` gives the lines to print:

    NAME              READY  REASON                   ADDRESS         URL                         AGE
    default/hello     True   UpToDate                 34.120.36.245   https://hello.example.com   42s
    default/reports   False  DependencyNotReady       <none>          <none>                      3s
    latest event  12:00:01  default/hello  Created  created BackendService iaps-default-hello-…-bs
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COLUMNS = ("NAME", "READY", "REASON", "ADDRESS", "URL", "AGE")
KIND = "IapProtectedService"


def key_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def ready_condition(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return None


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Ready=True for the current generation (an old Ready says nothing about the latest spec)."""
    status = obj.get("status") or {}
    fresh = status.get("observedGeneration") == (obj.get("metadata") or {}).get("generation")
    ready = ready_condition(obj)
    return fresh and ready is not None and ready.get("status") == "True"


def parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(created: Any, now: datetime.datetime) -> str:
    """kubectl's short age: 42s, 5m, 3h, 2d."""
    start = parse_time(created)
    if start is None:
        return "<unknown>"
    seconds = max(0, int((now - start).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def event_time(event: Mapping[str, Any]) -> datetime.datetime | None:
    for field_ in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if (when := parse_time(event.get(field_))) is not None:
            return when
    return parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def describe(obj: Mapping[str, Any]) -> str:
    """Why a resource is not Ready, in one line (for timeouts)."""
    ready = ready_condition(obj)
    if ready is None:
        return f"{key_of(obj)}: no status at all (is the operator running and watching this namespace?)"
    status = obj.get("status") or {}
    stale = status.get("observedGeneration") != (obj.get("metadata") or {}).get("generation")
    where = " (status is for an older generation)" if stale else ""
    return f"{key_of(obj)}: Ready={ready.get('status')} {ready.get('reason')}: {ready.get('message')}{where}"


@dataclass
class Board:
    """The resources and the latest Event about one of them, as the watches last reported them."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest: dict[str, Any] | None = None

    def resource(self, kind: str, obj: Mapping[str, Any]) -> None:
        """A watch event of an IapProtectedService (ADDED, MODIFIED, DELETED)."""
        if kind == "DELETED":
            self.objects.pop(key_of(obj), None)
        else:
            self.objects[key_of(obj)] = dict(obj)

    def event(self, event: Mapping[str, Any]) -> None:
        """A Kubernetes Event; kept when it is about an IapProtectedService and newer than the last."""
        if (event.get("involvedObject") or {}).get("kind") != KIND:
            return
        when = event_time(event)
        if self.latest is not None:
            last = event_time(self.latest)
            if when is not None and last is not None and when < last:
                return
        self.latest = dict(event)

    def rows(self, now: datetime.datetime) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = []
        for key in sorted(self.objects):
            obj = self.objects[key]
            status = obj.get("status") or {}
            ready = ready_condition(obj)
            rows.append(
                (
                    key,
                    str(ready.get("status")) if ready else "-",
                    str(ready.get("reason")) if ready else "(no status yet)",
                    str(status.get("ipAddress") or "<none>"),
                    str(status.get("url") or "<none>"),
                    age((obj.get("metadata") or {}).get("creationTimestamp"), now),
                )
            )
        return rows

    def event_line(self) -> str:
        event = self.latest
        if event is None:
            return "latest event  (none yet)"
        when = event_time(event)
        clock = when.astimezone().strftime("%H:%M:%S") if when else "--:--:--"
        about = event.get("involvedObject") or {}
        where = f"{about.get('namespace') or 'default'}/{about.get('name')}"
        message = " ".join(str(event.get("message") or "").split())
        return f"latest event  {clock}  {where}  {event.get('reason')}  {message}"

    def render(self, now: datetime.datetime, width: int | None = None, *, ages: bool = True) -> list[str]:
        """The table and the event line; `ages=False` leaves AGE out (to compare two renderings)."""
        rows = self.rows(now)
        if not ages:
            rows = [row[:-1] for row in rows]
        header = COLUMNS if ages else COLUMNS[:-1]
        lines = _columns([header, *rows])
        if not rows:
            lines = ["(no IapProtectedService yet: kubectl apply -f ...)"]
        lines.append(self.event_line())
        return [line[:width] if width else line for line in lines]


def _columns(table: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
