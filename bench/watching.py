"""Every version of the watched objects, stamped with when the watch stream delivered it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when the event arrived
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]


@dataclass
class Watch:
    """A watch on one collection URL, recorded from its start (before the object is created)."""

    session: aiohttp.ClientSession
    url: str  # e.g. {kube}/apis/G/V/namespaces/default/PLURAL
    history: list[Seen] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        async with self.session.get(self.url) as resp:
            resp.raise_for_status()
            version = (await resp.json(content_type=None))["metadata"]["resourceVersion"]
        started = asyncio.Event()
        self._task = asyncio.create_task(self._stream(str(version), started))
        await asyncio.wait_for(started.wait(), 10)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _stream(self, version: str, started: asyncio.Event) -> None:
        params = {"watch": "true", "resourceVersion": version}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.session.get(self.url, params=params, timeout=timeout) as resp:
            resp.raise_for_status()
            started.set()
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                self.history.append(Seen(time.monotonic(), str(event["type"]), event["object"]))
                self._changed.set()

    async def first(
        self, predicate: Callable[[Mapping[str, Any]], bool], within: float, after: int = 0
    ) -> tuple[int, Seen]:
        """The first recorded version from index `after` on that satisfies `predicate` (bounded wait)."""
        deadline = time.monotonic() + within
        index = after
        while True:
            while index < len(self.history):
                if predicate(self.history[index].obj):
                    return index, self.history[index]
                index += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last = self.history[-1].obj.get("status") if self.history else None
                raise TimeoutError(f"condition not seen within {within}s; last status: {last}")
            if self._task is not None and self._task.done():
                raise RuntimeError(f"the watch stream ended: {self._task}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


def condition(obj: Mapping[str, Any], type_: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status"))
    return None


def current(obj: Mapping[str, Any]) -> bool:
    """The status describes the current spec."""
    observed: object = (obj.get("status") or {}).get("observedGeneration")
    return observed is not None and observed == obj["metadata"].get("generation")


def is_ready(obj: Mapping[str, Any]) -> bool:
    return current(obj) and condition(obj, "Ready") == "True"


def is_protected(obj: Mapping[str, Any]) -> bool:
    return current(obj) and condition(obj, "Protected") == "True"
