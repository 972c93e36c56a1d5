"""`iap-operator run` as a real process against a `World`'s emulators: start, SIGKILL, SIGSTOP/SIGCONT.

Crash-safety and leader-election tests kill processes, never raise exceptions inside the operator.
`Tap` is a recording reverse proxy to put between one process and an emulator: what that process sent,
and when (on this process's monotonic clock), with hooks to hold, refuse or act on a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
from aiohttp import web
from tests.e2e.harness import PROJECT, READ_VERBS, WRITES, World

SERVICES = ("compute", "run", "iap", "serviceusage", "cloudresourcemanager")
FAST = ("--poll-interval=0.2", "--missing-retry=0.2", "--backoff-base=0.05", "--backoff-max=0.5")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OperatorProcess:
    """One `iap-operator run` process; its combined output goes to `log_path`."""

    proc: asyncio.subprocess.Process
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, no final status write."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)

    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    async def stop(self, within: float = 20) -> int:
        """SIGTERM (a graceful shutdown), then the exit code; SIGKILL if it does not exit in time."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=within)
            except TimeoutError:
                self.kill()
                await self.proc.wait()
        self._log.close()
        return int(self.proc.returncode or 0)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")


async def start_operator(
    world: World,
    tmp_path: Path,
    *args: str,
    name: str = "operator",
    env: Mapping[str, str] | None = None,
    fast: Sequence[str] = FAST,
) -> OperatorProcess:
    """Start `iap-operator run` on `world`'s emulators (anonymous credentials, every endpoint overridden)."""
    environment = {
        **os.environ,
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "IAP_OPERATOR_ALLOWED_PROJECTS": f"default={PROJECT}",
        "IAP_OPERATOR_DEFAULT_PROJECT": PROJECT,
        **(env or {}),
    }
    endpoints = [f"--endpoint={s}={world.gcp.url}" for s in SERVICES]
    log_path = tmp_path / f"{name}.log"
    log = log_path.open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "iap_operator", "run", *endpoints, "--anonymous-credentials", *fast, *args,
        env=environment, stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    return OperatorProcess(proc, log_path, log)


@contextlib.asynccontextmanager
async def operator_process(
    world: World, tmp_path: Path, *args: str, **kwargs: object
) -> AsyncIterator[OperatorProcess]:
    """`start_operator` for the duration of the block; stopped (or killed) on the way out."""
    process = await start_operator(world, tmp_path, *args, **kwargs)  # type: ignore[arg-type]
    try:
        yield process
    finally:
        await process.stop()


# --- a recording reverse proxy --------------------------------------------------------------------------

Hook = Callable[[web.Request], Awaitable[None]]
_HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}
)


@dataclass(frozen=True)
class Arrival:
    """A request the tap forwarded: when it arrived and when its answer went back (monotonic)."""

    at: float
    answered: float
    method: str
    path: str
    status: int

    @property
    def write(self) -> bool:
        """A Google Cloud (or Kubernetes) mutation; POSTs that only read are left out."""
        return self.method in WRITES and not self.path.endswith(READ_VERBS)


class Tap:
    """Forwards every request to `target` and records it. `before(request)` runs first (it may wait, or
    raise an `aiohttp.web.HTTPException` to answer instead); `after(request)` runs once the target
    answered, before the answer is relayed (kill the client there: the write happened, its answer is lost).
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.url = ""
        self.arrivals: list[Arrival] = []
        self.before: Hook | None = None
        self.after: Hook | None = None
        self._session: aiohttp.ClientSession | None = None

    def writes(self) -> list[Arrival]:
        return [a for a in self.arrivals if a.write and a.status < 400]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        if self.before is not None:
            await self.before(request)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        body = await request.read()
        async with self._session.request(
            request.method, self.target + request.rel_url.path_qs, headers=headers, data=body or None
        ) as upstream:
            payload = await upstream.read()
            status = upstream.status
            relayed = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
        self.arrivals.append(Arrival(arrived, time.monotonic(), request.method, request.path, status))
        if self.after is not None:
            await self.after(request)
        return web.Response(body=payload, status=status, headers=relayed)

    async def __aenter__(self) -> Tap:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        server = web.Server(self._forward)
        self._runner = web.ServerRunner(server, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
