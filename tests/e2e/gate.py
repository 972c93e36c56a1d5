"""An HTTP proxy in front of the GCP emulator that can stop the world at a chosen write.

Crash tests point `iap-operator run` at the proxy, arm it, wait until it trips and SIGKILL the operator:

- `boundary(n)`: the first `n` writes reach GCP; the next one, and every write after it, is held (never
  forwarded). The kill then falls exactly between two steps.
- `during(path, after=...)`: the n-th write whose path matches is held before it reaches GCP
  (`after=False`: the request is in flight, nothing applied) or after GCP applied it and before the
  operator hears back (`after=True`); every later write is held too.

`release()` drops what is held (answered 503 to a dead client) and lets writes through again. Reads always
pass. Only the test's event loop is involved: no sleeps, the trip is an `asyncio.Event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
READ_VERBS = (":getIamPolicy", ":testIamPermissions", "/wait")  # POSTs that only read
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def is_write(method: str, path: str) -> bool:
    return method in WRITES and not path.endswith(READ_VERBS)


@dataclass
class _Trap:
    pattern: re.Pattern[str] | None  # None: any write
    skip: int  # matching writes to let through first
    after: bool  # hold the answer (applied) rather than the request (not applied)


@dataclass
class Gate:
    upstream: str
    url: str = ""
    writes: list[str] = field(default_factory=list)  # "METHOD path" of every write forwarded
    tripped: asyncio.Event = field(default_factory=asyncio.Event)
    tripped_on: str = ""
    _trap: _Trap | None = None
    _frozen: bool = False
    _thaw: asyncio.Event = field(default_factory=asyncio.Event)
    _session: aiohttp.ClientSession | None = None

    # --- arming -----------------------------------------------------------------------------------------

    def boundary(self, n: int) -> None:
        """Let `n` more writes through, then hold everything written."""
        self._arm(_Trap(None, n, after=False))

    def during(self, path: str, *, nth: int = 1, after: bool) -> None:
        """Hold the `nth` next write whose URL path matches the regex `path` (and every write after it)."""
        self._arm(_Trap(re.compile(path), nth - 1, after=after))

    def release(self) -> None:
        """Drop what is held; writes flow again."""
        self._trap, self._frozen = None, False
        self._thaw.set()
        self._thaw = asyncio.Event()
        self.tripped = asyncio.Event()
        self.tripped_on = ""

    def _arm(self, trap: _Trap) -> None:
        self.release()
        self._trap = trap

    # --- serving ----------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        if is_write(request.method, path) and (self._frozen or self._springs(path)):
            applied = self._trap is not None and self._trap.after and not self._frozen
            thaw = self._thaw  # `release` replaces it: wait for the one of this hold
            self._trip(request.method, path)
            if applied:
                await self._forward(request, body)  # applied; the answer never reaches the operator
            await thaw.wait()
            return web.Response(status=503, text="dropped by the test gate")
        response = await self._forward(request, body)
        if is_write(request.method, path):
            self.writes.append(f"{request.method} {path}")
        return response

    def _springs(self, path: str) -> bool:
        trap = self._trap
        if trap is None or (trap.pattern is not None and not trap.pattern.search(path)):
            return False
        if trap.skip > 0:
            trap.skip -= 1
            return False
        return True

    def _trip(self, method: str, path: str) -> None:
        if not self._frozen:
            self._frozen = True
            self.tripped_on = f"{method} {path}"
            self.tripped.set()

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
        async with self._session.request(
            request.method, self.upstream + request.rel_url.raw_path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=payload, headers=kept)


@contextlib.asynccontextmanager
async def gate(upstream: str) -> AsyncIterator[Gate]:
    """A `Gate` serving on 127.0.0.1 (an ephemeral port) in front of `upstream`, for the block."""
    keeper = Gate(upstream.rstrip("/"))
    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_route("*", "/{tail:.*}", keeper._handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    keeper.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        keeper._session = session
        try:
            yield keeper
        finally:
            keeper.release()
            await runner.cleanup()
