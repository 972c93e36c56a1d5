"""Scale benchmark: N IapProtectedServices in one project, the operator and both emulators as processes.

    python bench/scale.py [--sizes 1,100,1000,10000] [--realistic 1000] [--scale 0.1]
                          [--max-seconds 900] [--resync 30] [--out bench/scale-results.json]

Per run: fresh `iap-operator gcp-emulator` and `kube-emulator` processes, a counting proxy (in this process)
between the operator and the Kubernetes API, and `iap-operator run` as its own process. The benchmark POSTs
N resources at once and watches the collection until every one is Ready (or `--max-seconds` pass: the run
is then reported as a timeout with how many were Ready); that operator has timer resyncs off, so the apply
is measured alone. Then a fresh operator process replaces it: it resumes every resource (a full pass with
nothing to change, as a resync; timer resyncs every --resync seconds as well) and the benchmark counts what
the next N passes cost (counted by `status.lastSyncTime` changes; CPU from when its watch opens, after its
imports). Figures per run (see bench/SCALE.md):

* time to all Ready and resources/s;
* operator CPU (user+system, from /proc) per resource during the apply, and per resource per resync;
* peak RSS (VmHWM) and RSS growth per resource;
* GCP reads and writes per resource per resync (compute reads apart: the quota that binds first), and
  the share of compute's read quota one project would use at the default 10-minute resync;
* Kubernetes requests per resource (apply) and per resource per resync;
* at realistic latency: time to all Ready over max(critical path, compute write-quota floor).

Zero latency runs use `--gcp-qps 0` (the operator's own pacing off: the benchmark measures the operator's
work, not a limit it was told to keep). The realistic run paces at compute's documented write quota
scaled to benchmark time (1,500 requests/minute per project, times 1/--scale).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import calls
import critical_path
import watching
from aiohttp import web

from iap_sandbox.emulators.gcp.operations import LatencyProfile

GROUP, VERSION, PLURAL = "iap-operator.dev", "v1alpha1", "iapprotectedservices"
PROJECT, NUMBER, REGION = "demo-project", "123456789012", "us-central1"
SERVICES = ("compute", "run", "iap", "serviceusage", "cloudresourcemanager")
# Compute Engine rate quotas, per project and minute (Google's "Compute Engine rate quotas" page:
# `compute.googleapis.com/default`, the global mutation methods, and `read_requests`, the *.get methods).
COMPUTE_WRITE_QUOTA_PER_MINUTE = 1500.0
COMPUTE_READ_QUOTA_PER_MINUTE = 1500.0
DEFAULT_RESYNC_SECONDS = 600.0  # the CRD's default spec.resyncPeriod (10 minutes)
CERT_SECONDS_REALISTIC = 30.0  # certificate provisioning, as bench/apply_to_ready.py (a)
POLL_INTERVAL = 0.2
NO_RESYNC = 86400.0
POST_CONCURRENCY = 16


def resource(index: int) -> dict[str, Any]:
    name = f"svc-{index:05d}"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IapProtectedService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "projectId": PROJECT,
            "cloudRun": {"service": name, "region": REGION},
            "loadBalancer": {"domains": [f"{name}.example.com"]},
            "access": {"members": ["user:alice@example.com"]},
        },
    }


def seed(n: int) -> dict[str, Any]:
    names = [f"svc-{i:05d}" for i in range(n)]
    return {
        "projects": [
            {
                "projectId": PROJECT,
                "projectNumber": NUMBER,
                "cloudRunServices": [{"name": name, "region": REGION} for name in names],
            }
        ],
        "dns": {f"{name}.example.com": "auto" for name in names},
    }


# --- processes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """A process's CPU seconds (user + system) and memory, from /proc."""

    cpu: float
    rss_mib: float
    peak_rss_mib: float

    @classmethod
    def of(cls, pid: int) -> Usage:
        ticks = os.sysconf("SC_CLK_TCK")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
        return cls(cpu, _kib(status.get("VmRSS", "0 kB")) / 1024, _kib(status.get("VmHWM", "0 kB")) / 1024)


def _kib(text: str) -> float:
    return float(text.split(maxsplit=1)[0])


async def _serving(proc: asyncio.subprocess.Process, marker: str, within: float) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(within):
        while line := (await proc.stdout.readline()).decode():
            if marker in line:
                return line.strip().rsplit(" ", 1)[-1]
    raise RuntimeError(f"an emulator exited before serving (code {proc.returncode})")


async def _stop(proc: asyncio.subprocess.Process, within: float = 15) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), within)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass
class KubeCounter:
    """A streaming reverse proxy to the Kubernetes API emulator that counts what passes through it."""

    target: str
    counts: Counter[str] = field(default_factory=Counter)
    operator_watching: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def total(self) -> int:
        return sum(self.counts.values())

    async def _forward(self, request: web.BaseRequest) -> web.StreamResponse:
        watch = request.query.get("watch") in {"true", "1"}
        self.counts[f"{request.method}{' watch' if watch else ''}"] += 1
        if watch and request.path.endswith(f"/{PLURAL}"):
            self.operator_watching.set()
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self._session.request(
            request.method, self.target + request.rel_url.path_qs, headers=headers, data=body or None,
            timeout=timeout,
        ) as upstream:  # fmt: skip
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP},
            )
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError):  # the client went away (a watch it closed)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            return response

    async def __aenter__(self) -> KubeCounter:
        self._session: aiohttp.ClientSession | None = aiohttp.ClientSession(
            auto_decompress=False, connector=aiohttp.TCPConnector(limit=0)
        )
        self._runner = web.ServerRunner(
            web.Server(self._forward), handler_cancellation=True, shutdown_timeout=1
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


_HOP = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}
)


@dataclass
class World:
    gcp_url: str
    kube: KubeCounter
    operator: asyncio.subprocess.Process
    emulators: tuple[asyncio.subprocess.Process, asyncio.subprocess.Process]  # GCP, Kubernetes
    session: aiohttp.ClientSession
    log_path: Path
    gcp_next: int = 0  # request-log index the next GCP fetch starts at
    # Starts a fresh operator process (with the benchmark's --resync period) and returns it.
    restart: Callable[[], Awaitable[asyncio.subprocess.Process]] | None = None

    @property
    def collection(self) -> str:
        return f"{self.kube.target}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"

    async def gcp_calls(self) -> dict[str, int]:
        """GCP calls since the last call of this method: reads, writes, compute reads, compute writes."""
        async with self.session.get(f"{self.gcp_url}/emulator/v1/requests?since={self.gcp_next}") as resp:
            body = await resp.json()
        self.gcp_next = int(body["next"])
        records = calls.gcp_calls(body["requests"])
        writes = [r for r in records if calls.is_write(r)]
        compute = [r for r in records if str(r["path"]).startswith("/compute/")]
        compute_writes = [r for r in compute if calls.is_write(r)]
        return {
            "reads": len(records) - len(writes),
            "writes": len(writes),
            "compute_reads": len(compute) - len(compute_writes),
            "compute_writes": len(compute_writes),
        }


@contextlib.asynccontextmanager
async def world(
    n: int, tmp: Path, *, latency: str, scale: float, qps: float, resync: float, cert_seconds: float | None
) -> AsyncIterator[World]:
    from iap_operator.resources import crd_path  # noqa: PLC0415 - the product's CRD file

    seed_file = tmp / "gcp-seed.json"
    seed_file.write_text(json.dumps(seed(n)))
    py = sys.executable
    gcp = await asyncio.create_subprocess_exec(
        py, "-m", "iap_operator", "gcp-emulator", "--port=0", f"--seed={seed_file}",
        f"--latency-profile={latency}", f"--latency-scale={scale}", "--log-level=WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    kube = await asyncio.create_subprocess_exec(
        py, "-m", "iap_operator", "kube-emulator", "--port=0", f"--crd={crd_path()}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    procs = [gcp, kube]
    try:
        gcp_url, kube_url = await asyncio.gather(_serving(gcp, "serving on", 120), _serving(kube, "http", 60))
        async with (
            KubeCounter(kube_url) as counter,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POST_CONCURRENCY * 2)) as session,
        ):
            if cert_seconds is not None:
                url = f"{gcp_url}/emulator/v1/settings"
                async with session.post(
                    url, json={"compute.managedCertificateSeconds": cert_seconds}
                ) as resp:
                    resp.raise_for_status()
            kubeconfig = tmp / "kubeconfig"
            kubeconfig.write_text(
                json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "Config",
                        "clusters": [{"name": "bench", "cluster": {"server": counter.url}}],
                        "users": [{"name": "bench", "user": {}}],
                        "contexts": [
                            {
                                "name": "bench",
                                "context": {"cluster": "bench", "user": "bench", "namespace": "default"},
                            }
                        ],
                        "current-context": "bench",
                    }
                )
            )
            env = {
                **os.environ,
                "KUBECONFIG": str(kubeconfig),
                "IAP_OPERATOR_ALLOWED_PROJECTS": f"default={PROJECT}",
                "IAP_OPERATOR_DEFAULT_PROJECT": PROJECT,
            }
            log_path = tmp / "operator.log"
            log: IO[bytes] = log_path.open("ab")

            async def start(resync_seconds: float) -> asyncio.subprocess.Process:
                counter.operator_watching.clear()
                return await asyncio.create_subprocess_exec(
                    py, "-m", "iap_operator", "run", *(f"--endpoint={s}={gcp_url}" for s in SERVICES),
                    "--anonymous-credentials", f"--poll-interval={POLL_INTERVAL}", "--missing-retry=0.2",
                    "--backoff-base=0.05", "--backoff-max=0.5", f"--gcp-qps={qps}",
                    f"--resync-override={resync_seconds}", f"--resync-tick={_tick(resync_seconds)}",
                    env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip

            # The apply runs without timer resyncs (a period far beyond any run), so it measures the apply.
            w = World(gcp_url, counter, await start(NO_RESYNC), (gcp, kube), session, log_path)
            w.restart = lambda: start(resync)
            try:
                yield w
            finally:
                await _stop(w.operator)
                log.close()
    finally:
        for proc in procs:
            await _stop(proc)


# --- one run ------------------------------------------------------------------------------------------


@dataclass
class Tracker:
    """Per resource: Ready yet, and how many distinct `status.lastSyncTime` values were seen."""

    ready: set[str] = field(default_factory=set)
    last_sync: dict[str, Any] = field(default_factory=dict)
    passes: int = 0
    seen: int = 0

    def update(self, history: Sequence[watching.Seen]) -> None:
        for event in history[self.seen :]:
            obj = event.obj
            name = str(obj["metadata"]["name"])
            if watching.is_ready(obj):
                self.ready.add(name)
            synced = (obj.get("status") or {}).get("lastSyncTime")
            if synced is not None and self.last_sync.get(name) != synced:
                if name in self.last_sync:
                    self.passes += 1
                self.last_sync[name] = synced
        self.seen = len(history)


async def _until(watch: watching.Watch, tracker: Tracker, done: Any, deadline: float) -> bool:
    while True:
        tracker.update(watch.history)
        if done():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        watch._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch._changed.wait(), min(remaining, 1.0))


async def _post_all(w: World, n: int) -> None:
    limit = asyncio.Semaphore(POST_CONCURRENCY)

    async def post(i: int) -> None:
        async with limit, w.session.post(w.collection, json=resource(i)) as resp:
            if resp.status not in {200, 201}:
                raise RuntimeError(f"create failed ({resp.status}): {await resp.text()}")

    await asyncio.gather(*(post(i) for i in range(n)))


def _tick(resync: float) -> float:
    """How often the operator looks for due resyncs: a quarter period, between 0.1 and 30 s."""
    return min(30.0, max(0.1, resync / 4))


def _per(value: float, count: float) -> float | None:
    return round(value / count, 6) if count else None


async def run(
    n: int, *, latency: str, scale: float, max_seconds: float, resync: float, resync_window: float
) -> dict[str, Any]:
    realistic = latency == "realistic"
    profile = LatencyProfile.named(latency, scale)
    cert_seconds = CERT_SECONDS_REALISTIC * scale if realistic else None
    qps = COMPUTE_WRITE_QUOTA_PER_MINUTE / 60 / scale if realistic else 0.0
    result: dict[str, Any] = {
        "n": n,
        "latency": latency,
        "scale": scale if realistic else None,
        "gcp_qps": qps,
    }
    load = [round(x, 2) for x in os.getloadavg()]  # the machine is shared: say how busy it was
    with tempfile.TemporaryDirectory(prefix="iap-scale-") as tmpdir:
        tmp = Path(tmpdir)
        async with world(
            n, tmp, latency=latency, scale=scale, qps=qps, resync=resync, cert_seconds=cert_seconds
        ) as w:
            await asyncio.wait_for(w.kube.operator_watching.wait(), 120)
            async with watching.Watch(w.session, w.collection) as watch:
                idle = Usage.of(w.operator.pid)
                await w.gcp_calls()  # startup calls are not the apply's
                kube0 = w.kube.total()
                t0 = time.monotonic()
                tracker = Tracker()
                await _post_all(w, n)
                posted = time.monotonic() - t0
                all_ready = await _until(watch, tracker, lambda: len(tracker.ready) >= n, t0 + max_seconds)
                elapsed = time.monotonic() - t0
                applied = Usage.of(w.operator.pid)
                apply_calls = await w.gcp_calls()
                kube_apply = w.kube.total() - kube0
                result.update(
                    all_ready=all_ready,
                    ready=len(tracker.ready),
                    post_seconds=round(posted, 3),
                    time_to_all_ready=round(elapsed, 3) if all_ready else None,
                    timed_out_after=None if all_ready else round(elapsed, 3),
                    resources_per_second=round(len(tracker.ready) / elapsed, 3) if elapsed else None,
                    operator_idle_rss_mib=round(idle.rss_mib, 1),
                    operator_cpu_per_resource_apply=_per(applied.cpu - idle.cpu, len(tracker.ready)),
                    rss_per_resource_kib=_per((applied.rss_mib - idle.rss_mib) * 1024, n),
                    gcp_apply=apply_calls,
                    gcp_writes_per_resource_apply=_per(apply_calls["writes"], n),
                    kube_requests_per_resource_apply=_per(kube_apply, n),
                )
                if realistic:
                    path = critical_path.critical_path(
                        critical_path.latencies(profile, provisioning=cert_seconds), critical_path.READY_GOALS
                    )
                    floor = apply_calls["compute_writes"] / (COMPUTE_WRITE_QUOTA_PER_MINUTE / 60 / scale)
                    bound = max(path.seconds, floor)
                    result.update(
                        critical_path=round(path.seconds, 3),
                        write_quota_floor=round(floor, 3),
                        ratio_to_bound=round(elapsed / bound, 3) if all_ready and bound else None,
                    )
                # Steady state: a fresh operator process resumes every resource (one pass each, plus
                # timer resyncs at --resync), with nothing to change: N passes, counted by lastSyncTime.
                applied_peak = Usage.of(w.operator.pid).peak_rss_mib
                if all_ready:
                    await _stop(w.operator)
                    assert w.restart is not None
                    w.operator = await w.restart()
                    await asyncio.wait_for(w.kube.operator_watching.wait(), 120)
                    before = Usage.of(w.operator.pid)  # imports and startup done: the watch is open
                    await w.gcp_calls()
                    kube1 = w.kube.total()
                    tracker.update(watch.history)
                    base = tracker.passes
                    t1 = time.monotonic()
                    complete = await _until(
                        watch, tracker, lambda: tracker.passes - base >= n, t1 + resync_window
                    )
                    passes = tracker.passes - base
                    after = Usage.of(w.operator.pid)
                    steady = await w.gcp_calls()
                    kube_steady = w.kube.total() - kube1
                    reads = _per(steady["reads"], passes)
                    compute_reads = _per(steady["compute_reads"], passes)
                    result.update(
                        resync_passes=passes,
                        resync_window_complete=complete,
                        resync_seconds=round(time.monotonic() - t1, 3),
                        operator_cpu_per_resource_resync=_per(after.cpu - before.cpu, passes),
                        gcp_reads_per_resource_resync=reads,
                        gcp_writes_per_resource_resync=_per(steady["writes"], passes),
                        compute_reads_per_resource_resync=compute_reads,
                        compute_read_quota_share_default_resync=(
                            round(
                                compute_reads
                                * n
                                / (DEFAULT_RESYNC_SECONDS / 60)
                                / COMPUTE_READ_QUOTA_PER_MINUTE,
                                4,
                            )
                            if compute_reads is not None
                            else None
                        ),
                        kube_requests_per_resource_resync=_per(kube_steady, passes),
                    )
                final = Usage.of(w.operator.pid)
                gcp_emulator, kube_emulator = (Usage.of(p.pid) for p in w.emulators)
                result.update(
                    peak_rss_mib=round(max(applied_peak, final.peak_rss_mib), 1),
                    kube_requests=dict(w.kube.counts),
                    # Whole-run CPU seconds of each process: is an emulator the bottleneck?
                    cpu_seconds={
                        "operator_last_process": round(final.cpu, 2),
                        "gcp_emulator": round(gcp_emulator.cpu, 2),
                        "kube_emulator": round(kube_emulator.cpu, 2),
                    },
                    load_average_at_start=load,
                )
    return result


# --- main ---------------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--sizes", default="1,100,1000,10000", help="N at zero latency, comma-separated ('' for none)"
    )
    p.add_argument("--realistic", default="1000", help="N at the realistic profile ('' for none)")
    p.add_argument("--scale", type=float, default=0.1, help="realistic latencies times this")
    p.add_argument(
        "--max-seconds", type=float, default=900.0, help="cap on each run's apply (then a timeout)"
    )
    p.add_argument("--resync", type=float, default=30.0, help="the restarted operator's --resync-override, s")
    p.add_argument("--resync-window", type=float, default=300.0, help="cap on the steady-state window")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("scale-results.json"))
    return p.parse_args(argv)


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    plan = [(n, "zero") for n in _sizes(args.sizes)] + [(n, "realistic") for n in _sizes(args.realistic)]
    runs: list[dict[str, Any]] = []
    for n, latency in plan:
        print(f"scale: N={n} latency={latency} ...", file=sys.stderr, flush=True)
        try:
            figures = await run(
                n,
                latency=latency,
                scale=args.scale,
                max_seconds=args.max_seconds,
                resync=args.resync,
                resync_window=args.resync_window,
            )
        except Exception as exc:
            figures = {"n": n, "latency": latency, "error": f"{type(exc).__name__}: {exc}"}
        runs.append(figures)
        print(json.dumps(figures), file=sys.stderr, flush=True)
    output = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version()},
        "config": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}},
        "quotas": {
            "compute_write_per_minute": COMPUTE_WRITE_QUOTA_PER_MINUTE,
            "compute_read_per_minute": COMPUTE_READ_QUOTA_PER_MINUTE,
            "default_resync_seconds": DEFAULT_RESYNC_SECONDS,
        },
        "runs": runs,
    }
    args.out.write_text(json.dumps(output, indent=2) + "\n")
    return output


if __name__ == "__main__":
    asyncio.run(main())
