"""`iap-operator run` as a real process against a `World`'s emulators: start, SIGKILL, SIGSTOP/SIGCONT.

Crash-safety and leader-election tests kill processes, never raise exceptions inside the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.e2e.harness import PROJECT, World

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
    gcp_url: str | None = None,
) -> OperatorProcess:
    """Start `iap-operator run` on `world`'s emulators (anonymous credentials, every endpoint overridden;
    `gcp_url` puts something else, such as a test proxy, in front of the GCP emulator)."""
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
