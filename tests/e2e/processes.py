"""`iap-operator run` as a real process against a `World`'s emulators: start, SIGKILL, SIGSTOP/SIGCONT.

Crash-safety and leader-election tests kill processes, never raise exceptions inside the operator.
`Tap` is a recording reverse proxy to put between one process and an emulator: what that process sent,
and when (on this process's monotonic clock), with hooks to hold, refuse or act on a request.
`emulator_processes` runs both emulators as processes too (`iap-operator gcp-emulator` / `kube-emulator`);
`RemoteGcp` steers the GCP one over its control API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def exited(self, within: float = 30) -> int:
        """Wait for the process to end by itself (e.g. after losing the Lease); its exit code."""
        return await asyncio.wait_for(self.proc.wait(), timeout=within)

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
    gcp_url: str | None = None,
) -> OperatorProcess:
    """Start `iap-operator run` on `world`'s emulators (anonymous credentials, every endpoint overridden;
    `gcp_url`, e.g. a `Tap`'s or a test proxy, instead of the GCP emulator's own). `env` may set `POD_ID`, the
    identity."""
    environment = {
        **os.environ,
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "IAP_OPERATOR_ALLOWED_PROJECTS": f"default={PROJECT}",
        "IAP_OPERATOR_DEFAULT_PROJECT": PROJECT,
        **(env or {}),
    }
    endpoints = [f"--endpoint={s}={gcp_url or world.gcp.url}" for s in SERVICES]
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
AfterHook = Callable[[web.Request, "Arrival"], Awaitable[None]]
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
    raise an `aiohttp.web.HTTPException` to answer instead); `after(request, arrival)` runs once the target
    answered, before the answer is relayed (kill the client there: the write happened, its answer is lost).
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.url = ""
        self.arrivals: list[Arrival] = []
        self.before: Hook | None = None
        self.after: AfterHook | None = None
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
        arrival = Arrival(arrived, time.monotonic(), request.method, request.path, status)
        self.arrivals.append(arrival)
        if self.after is not None:
            await self.after(request, arrival)
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


# --- the emulators as processes -------------------------------------------------------------------------


class RemoteGcp:
    """The GCP emulator's control API (`/emulator/v1/`), for an emulator in another process."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def _json(self, method: str, path: str, body: object = None) -> Any:
        async with self.session.request(method, f"{self.url}/emulator/v1/{path}", json=body) as resp:
            assert resp.status < 400, await resp.text()
            return await resp.json(content_type=None)

    async def state(self, prefix: str = "") -> dict[str, Any]:
        return dict(await self._json("GET", f"state?prefix={prefix}"))

    async def requests(self) -> list[dict[str, Any]]:
        return list((await self._json("GET", "requests"))["requests"])

    async def add_fault(self, **spec: Any) -> str:
        return str((await self._json("POST", "faults", spec))["ids"][0])

    async def clear_faults(self) -> None:
        await self._json("DELETE", "faults")

    async def settings(self, **values: Any) -> None:
        """Tunables of the service modules, e.g. `**{"compute.managedCertificateSeconds": 1}`."""
        await self._json("POST", "settings", values)

    async def scale_latency(self, scale: float) -> None:
        """Multiply every operation latency of the emulator's profile by `scale` from now on."""
        await self._json("POST", "latency", {"scale": scale})

    async def call(self, method: str, path: str, body: object = None) -> Any:
        """A Google API call straight to the emulator (setting up what someone else owns)."""
        async with self.session.request(method, f"{self.url}/{path.lstrip('/')}", json=body) as resp:
            assert resp.status < 400, await resp.text()
            return await resp.json(content_type=None)


@dataclass
class EmulatorProcesses:
    gcp_url: str
    kube_url: str
    kubeconfig: Path
    procs: list[asyncio.subprocess.Process]


async def _serving(proc: asyncio.subprocess.Process, marker: str, within: float) -> str:
    """The URL the emulator prints once it serves."""
    assert proc.stdout is not None
    async with asyncio.timeout(within):
        while line := (await proc.stdout.readline()).decode():
            if marker in line:
                return line.strip().rsplit(" ", 1)[-1]
    raise AssertionError(f"the emulator exited before serving (code {proc.returncode})")


@contextlib.asynccontextmanager
async def emulator_processes(
    tmp_path: Path, seed: Mapping[str, Any], *gcp_args: str, within: float = 60
) -> AsyncIterator[EmulatorProcesses]:
    """`iap-operator gcp-emulator` (seeded; `gcp_args` such as `--latency-profile=realistic`) and
    `iap-operator kube-emulator` (CRD installed) as processes; the kubeconfig at `tmp_path / "kubeconfig"`,
    where `start_operator` looks."""
    from iap_operator.resources import crd_path  # noqa: PLC0415 - the product's CRD file

    seed_file = tmp_path / "gcp-seed.yaml"
    seed_file.write_text(json.dumps(seed))  # JSON is YAML
    kubeconfig = tmp_path / "kubeconfig"
    gcp = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "iap_operator", "gcp-emulator", "--port=0", f"--seed={seed_file}", *gcp_args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    kube = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "iap_operator", "kube-emulator", "--port=0", f"--crd={crd_path()}",
        f"--kubeconfig={kubeconfig}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    procs = [gcp, kube]
    try:
        gcp_url, kube_url = await asyncio.gather(
            _serving(gcp, "serving on", within), _serving(kube, "http", within)
        )
        yield EmulatorProcesses(gcp_url, kube_url, kubeconfig, procs)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
