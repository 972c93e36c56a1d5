"""Shared observation: one list per collection per project per period, shared by every resource's `find`.

A `Snapshots` holds, per *scope* (project, collection, region), what the last list answered. A `find`
answers from it while it is younger than `period` seconds, and falls back to a single GET when

- the resource was written by us since (`invalidate`, called around every write, whatever its outcome):
  what we just changed is never answered from a list taken before the change;
- the resource is not in the list (the list is filtered on our ownership marks: a resource someone else
  owns, or one that does not exist yet, is looked up by name; the answer, found or 404, is kept until the
  next list).

A list that fails (a missing list permission, an outage) leaves the scope empty for the period: every
`find` then does its GET, as without sharing. `period <= 0` turns sharing off (every `find` is a GET).

Passes that react to a change (a create, a spec or annotation change, a retry) run under `fresh_reads()`:
every `find` of theirs is a GET, as without sharing, and its answer refreshes the snapshot. The periodic
resync is what shares (the kopf wiring decides which pass is which; the engine does not know).

Time is the event loop's clock (looptime in tests). Concurrent `find`s of one scope share one list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from iap_operator.engine.errors import CloudError

log = logging.getLogger(__name__)

Scope = Hashable
Lister = Callable[[], Awaitable[Mapping[str, Any]]]
Getter = Callable[[], Awaitable[Any | None]]


_FRESH: ContextVar[bool] = ContextVar("iap_operator_fresh_reads", default=False)


@contextmanager
def fresh_reads(fresh: bool = True) -> Iterator[None]:
    """Within this context (and the tasks it starts), `find`s read by name, not from a shared list."""
    token = _FRESH.set(fresh)
    try:
        yield
    finally:
        _FRESH.reset(token)


@dataclass
class _Listing:
    listed_at: float = float("-inf")
    items: Mapping[str, Any] = field(default_factory=dict)
    fetched: dict[str, Any | None] = field(default_factory=dict)  # name -> GET answer (None: 404)
    dirty: dict[str, int] = field(default_factory=dict)  # name -> sequence number of our last write
    refreshing: asyncio.Future[None] | None = None


class Snapshots:
    """Per-scope list snapshots with a period; see the module docstring."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._scopes: dict[Scope, _Listing] = {}
        self._sequence = 0

    @property
    def enabled(self) -> bool:
        return self.period > 0

    async def read(self, scope: Scope, name: str, list_all: Lister, get: Getter) -> Any | None:
        """The resource `name` of `scope` (None: it does not exist), from the shared list when it may.
        (Whoever waits for a resource to change, a certificate provisioning or a missing Cloud Run
        service, retries in a change-driven pass: under `fresh_reads`.)"""
        if not self.enabled:
            return await get()
        if _FRESH.get():
            return await self._get(self._scopes.setdefault(scope, _Listing()), name, get)
        listing = await self._fresh(scope, list_all)
        if name not in listing.dirty:
            if name in listing.fetched:
                return listing.fetched[name]
            if name in listing.items:
                return listing.items[name]
        return await self._get(listing, name, get)

    async def items(self, scope: Scope, list_all: Lister) -> list[Any]:
        """Every resource of `scope` the snapshot knows (listed, or fetched by name since)."""
        if not self.enabled:
            return list((await list_all()).values())
        listing = await self._fresh(scope, list_all)
        merged: dict[str, Any] = dict(listing.items)
        for name, item in listing.fetched.items():
            if item is None:
                merged.pop(name, None)
            else:
                merged[name] = item
        return list(merged.values())

    def invalidate(self, scope: Scope, name: str) -> None:
        """We are writing `name`: its next read is a GET."""
        self._sequence += 1
        self._scopes.setdefault(scope, _Listing()).dirty[name] = self._sequence

    # ---------------------------------------------------------------------------------------------

    async def _get(self, listing: _Listing, name: str, get: Getter) -> Any | None:
        started = self._sequence
        found = await get()
        written = listing.dirty.get(name)
        if written is None or written <= started:
            # No write of ours began after this GET did: its answer is current.
            listing.dirty.pop(name, None)
            listing.fetched[name] = found
        return found

    async def _fresh(self, scope: Scope, list_all: Lister) -> _Listing:
        listing = self._scopes.setdefault(scope, _Listing())
        loop = asyncio.get_running_loop()
        if loop.time() - listing.listed_at < self.period:
            return listing
        if listing.refreshing is not None:
            await asyncio.shield(listing.refreshing)  # another find is listing: share its answer
            return listing
        refreshing = listing.refreshing = loop.create_future()
        started = loop.time()
        try:
            items = await list_all()
        except CloudError as err:
            log.warning("list of %s failed (%s); reading by name until the next period", scope, err.message)
            items = {}
        finally:
            listing.refreshing = None
            refreshing.set_result(None)
        # What was fetched by name before this list began is older than the list: the list replaces it.
        listing.items = items
        listing.fetched = {}
        listing.listed_at = started
        return listing
