"""One process-wide resync scheduler: a heap of due times instead of a kopf timer per object.

The handlers feed it: a finished pass asks for the object's next resync (`schedule`), a deletion forgets
it (`forget`). One asyncio task sleeps until the earliest due time (on the loop's clock, so looptime can
drive it in tests), then starts the due resyncs, at most `concurrency` at once. An object has at most one
entry: scheduling it again replaces its due time. Nothing here knows about kopf or Kubernetes: `resync`
is a callback that takes the object's key.

Jitter spreads objects over the period: the first resync of an object (after its creation, an update or
the operator's restart) is due at a random point of (0.5, 1.0] x period, so a burst of creations or a
restart does not turn into a burst of resyncs one period later; later resyncs are due 0.9-1.1 x period
after the previous one, so the spread persists.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

Resync = Callable[[str], Awaitable[None]]


def first_delay(period: float, rng: random.Random | None = None) -> float:
    """Seconds to an object's first resync: somewhere in the second half of the period."""
    return period * (0.5 + 0.5 * (rng or random).random())


def next_delay(period: float, rng: random.Random | None = None) -> float:
    """Seconds to an object's next resync after a resync: the period, ±10 %."""
    return period * (0.9 + 0.2 * (rng or random).random())


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    key: str = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Scheduler:
    """Resyncs by due time; `run()` is the one task that starts them."""

    def __init__(self, resync: Resync, *, concurrency: int = 10) -> None:
        self._resync = resync
        self._heap: list[_Entry] = []
        self._entries: dict[str, _Entry] = {}
        self._seq = 0
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._running: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def due(self, key: str) -> float | None:
        """When `key`'s resync is due (loop time), or None when it is not scheduled."""
        entry = self._entries.get(key)
        return entry.due if entry else None

    def schedule(self, key: str, delay: float) -> None:
        """`key`'s resync `delay` seconds from now, replacing any earlier schedule."""
        self.forget(key)
        self._seq += 1
        entry = _Entry(asyncio.get_running_loop().time() + max(0.0, delay), self._seq, key)
        self._entries[key] = entry
        heapq.heappush(self._heap, entry)
        self._wake.set()

    def forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.cancelled = True  # dropped lazily when it reaches the top of the heap

    async def run(self) -> None:
        """Start due resyncs until cancelled; cancelling also cancels the resyncs in flight."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                while self._heap and self._heap[0].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    await self._wait(None)
                    continue
                pause = self._heap[0].due - loop.time()
                if pause > 0:
                    await self._wait(pause)
                    continue
                entry = heapq.heappop(self._heap)
                del self._entries[entry.key]
                await self._slots.acquire()  # bounded: the heap waits while the slots are taken
                task = asyncio.create_task(self._one(entry.key), name=f"resync {entry.key}")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
        finally:
            for task in list(self._running):
                task.cancel()
            for task in list(self._running):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _wait(self, pause: float | None) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), pause)

    async def _one(self, key: str) -> None:
        try:
            await self._resync(key)
        except asyncio.CancelledError:
            raise
        except Exception:  # one object's failure never stops the others' resyncs
            logger.exception("resync of %s failed", key)
        finally:
            self._slots.release()
