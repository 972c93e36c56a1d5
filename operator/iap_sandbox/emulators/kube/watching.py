"""Watch fan-out: a bounded event log per stored resource, so watches can resume from a resourceVersion."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

StorageKey = tuple[str, str]  # (group, plural): one store for all served versions


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    resource_version: int
    obj: Mapping[str, Any]  # the stored object (at the storage version); never mutated


class TooOldResourceVersion(Exception):
    """The requested resourceVersion was compacted out of the log (the watch answers 410 Gone)."""


@dataclass(eq=False)
class Subscription:
    key: StorageKey
    accepts: Callable[[Mapping[str, Any]], bool]
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)


class WatchHub:
    """Publishes every write to live subscribers and keeps the last `history` events per resource.

    All methods are synchronous: callers mutate the store and publish without awaiting in between,
    so a subscriber registered in the same step never misses or duplicates an event.
    """

    def __init__(self, history: int = 1000) -> None:
        self._history = history
        self._logs: dict[StorageKey, deque[WatchEvent]] = {}
        self._compacted: dict[StorageKey, int] = {}  # events up to this resourceVersion are gone
        self._subscribers: dict[StorageKey, set[Subscription]] = {}
        self._closed = False
        self._changed = asyncio.Event()  # set whenever a watch starts or ends

    def publish(self, key: StorageKey, event: WatchEvent) -> None:
        log = self._logs.setdefault(key, deque())
        log.append(event)
        while len(log) > self._history:
            self._compacted[key] = log.popleft().resource_version
        for subscription in list(self._subscribers.get(key, ())):
            if subscription.accepts(event.obj):
                subscription.queue.put_nowait(event)

    def subscribe(
        self, key: StorageKey, accepts: Callable[[Mapping[str, Any]], bool], since: int | None
    ) -> tuple[list[WatchEvent], Subscription]:
        """Register a live subscriber; with `since`, also return the logged events after it."""
        replay: list[WatchEvent] = []
        if since is not None:
            if since < self._compacted.get(key, 0):
                raise TooOldResourceVersion(f"too old resource version: {since} ({self._compacted[key]})")
            replay = [
                event
                for event in self._logs.get(key, ())
                if event.resource_version > since and accepts(event.obj)
            ]
        subscription = Subscription(key, accepts)
        if self._closed:
            subscription.queue.put_nowait(None)
        self._subscribers.setdefault(key, set()).add(subscription)
        self._changed.set()
        return replay, subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.get(subscription.key, set()).discard(subscription)
        self._changed.set()

    async def wait_for_watchers(self, count: int = 1) -> None:
        """Block until at least `count` watch streams are open (e.g. a client under test is watching)."""
        while self.subscriber_count < count:
            self._changed.clear()
            await self._changed.wait()

    @property
    def subscriber_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._subscribers.values())

    def close(self) -> None:
        """End every open watch (server shutdown): each subscriber gets a `None` sentinel."""
        self._closed = True
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.queue.put_nowait(None)
