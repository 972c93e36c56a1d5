"""A single active instance: leader election on a coordination.k8s.io/v1 Lease, as client-go does it.

client-go's `tools/leaderelection` semantics (read, not copied):

- A candidate never trusts another instance's clock. It remembers the record it last saw and *when, on
  its own monotonic clock,* it saw it change; the holder's lease has expired once `leaseDurationSeconds`
  pass without a change. Clock skew between instances does not matter, only their clock rates.
- `duration > renew_deadline > 1.2 * retry_period`. The leader renews every `retry_period`; when it has
  not renewed within `renew_deadline` it stops acting (a standby may take over only `duration` after it
  last saw the record change, which is after the leader sent that renewal).
- Every Lease request has a timeout no longer than `retry_period` and, while leading, never past the
  moment the leader would stop acting; a hung API server cannot keep a stale leader acting.
- Updates are guarded by `resourceVersion`; a clean shutdown releases the Lease (holder cleared).

On top of client-go: `may_write()` is the fence of every Google Cloud write (`GcpConfig.may_write`): true
only while the last successful renewal was *sent* less than `renew_deadline` ago. A frozen leader
(SIGSTOP, a long GC pause) that wakes after a standby took over finds its fence already closed by time,
before its keeper has even looked at the Lease. The credentials are read again when the service-account
token (or kubeconfig) file changes, and on a 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import logging
import math
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

from iap_operator.wiring import kube, metrics
from iap_operator.wiring.kube import KubeClient, KubeError

logger = logging.getLogger(__name__)

JITTER_FACTOR = 1.2  # client-go's: retries of a candidate are spread over [period, 2.2 * period]
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
# What a Lease request can fail with: an API error, its timeout, the network.
FAILURES = (KubeError, TimeoutError, OSError, aiohttp.ClientError)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _stamp(when: datetime.datetime) -> str:
    """A MicroTime, as the Lease's acquireTime and renewTime are."""
    return when.astimezone(datetime.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LeaseConfig:
    name: str
    namespace: str
    identity: str
    duration: float = 15.0  # client-go LeaseDuration
    renew_deadline: float = 10.0  # client-go RenewDeadline
    retry_period: float = 2.0  # client-go RetryPeriod

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("the lease holder identity is empty")
        if self.retry_period <= 0:
            raise ValueError("the lease retry period must be positive")
        if not self.duration > self.renew_deadline:
            raise ValueError("lease duration must be greater than the renew deadline")
        if not self.renew_deadline > JITTER_FACTOR * self.retry_period:
            raise ValueError(f"the renew deadline must be greater than {JITTER_FACTOR} x the retry period")

    @property
    def duration_seconds(self) -> int:
        """What the Lease says: whole seconds, rounded up (others wait at least as long as we mean)."""
        return max(1, math.ceil(self.duration))

    @property
    def request_timeout(self) -> float:
        return self.retry_period


class Credentials:
    """kopf's login, done again when the files it reads change (kubelet rotates projected
    service-account tokens in place) or when the API server answers 401."""

    def __init__(
        self,
        client: KubeClient,
        login: Callable[[], kopf.ConnectionInfo | None] = kube.login,
        paths: tuple[str, ...] | None = None,
    ) -> None:
        self.client = client
        self._login = login
        kubeconfigs = [p for p in (os.environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
        self._paths = paths if paths is not None else (SERVICE_ACCOUNT_TOKEN, *kubeconfigs)
        self._seen = self._versions()
        self.logins = 0

    def _versions(self) -> tuple[tuple[int, int, int] | None, ...]:
        def version(path: str) -> tuple[int, int, int] | None:
            try:
                st = os.stat(path)
            except OSError:
                return None
            return (st.st_ino, st.st_mtime_ns, st.st_size)

        return tuple(version(p) for p in self._paths)

    def refresh_if_rotated(self) -> None:
        versions = self._versions()
        if versions != self._seen:
            self._seen = versions
            self.login_again("credentials file changed")

    def login_again(self, why: str) -> None:
        logger.info("reading Kubernetes credentials again for the Lease: %s", why)
        self.client.remember(self._login())
        self.logins += 1


class Lease:
    """One candidate. `try_acquire_or_renew` is one attempt; `keep` renews until the lease is lost."""

    def __init__(
        self,
        client: KubeClient,
        config: LeaseConfig,
        *,
        credentials: Credentials | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime.datetime] = _utc_now,
    ) -> None:
        self.client = client
        self.config = config
        self.credentials = credentials or Credentials(client)
        self.lost = asyncio.Event()
        self._monotonic = monotonic
        self._wall = wall
        self._object: dict[str, Any] | None = None  # the Lease as last read or written (resourceVersion)
        self._observed: Mapping[str, Any] | None = None  # its spec
        self._observed_at = -math.inf  # monotonic time we last saw the spec change
        self._valid_until = -math.inf  # monotonic: the fence closes then unless renewed
        self.renewals = 0  # successful writes of the record (acquire and renew)
        self.attempts = 0

    # --- what others ask -----------------------------------------------------------------------------

    def may_write(self) -> bool:
        """True while this instance holds the Lease and last renewed it within the renew deadline."""
        return self._monotonic() < self._valid_until

    @property
    def fence_closes_at(self) -> float:
        return self._valid_until

    @property
    def observed_at(self) -> float:
        return self._observed_at

    @property
    def holder(self) -> str | None:
        return None if self._observed is None else self._observed.get("holderIdentity") or None

    @property
    def _path(self) -> str:
        c = self.config
        return f"/apis/coordination.k8s.io/v1/namespaces/{c.namespace}/leases/{c.name}"

    # --- one attempt ---------------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """True when this instance holds the Lease afterwards (its fence then open for renew_deadline)."""
        self.attempts += 1
        sent = self._monotonic()
        if self.may_write() and self._object is not None:
            # Fast path: we hold it, update what we last wrote (a conflict falls back to a fresh read).
            spec = self._record(self._observed or {}, renewing=True)
            with contextlib.suppress(*FAILURES):
                written = await self._request("PUT", self._path, {**self._object, "spec": spec})
                if written is not None:
                    return self._won(written, sent)
        current = await self._request("GET", self._path)
        if current is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": self._record({}, renewing=False),
            }
            path = f"/apis/coordination.k8s.io/v1/namespaces/{self.config.namespace}/leases"
            return await self._write("POST", path, body, sent)
        spec = current.get("spec") or {}
        if spec != self._observed:
            self._observed, self._observed_at = copy.deepcopy(spec), self._monotonic()
        holder = spec.get("holderIdentity")
        if holder and holder != self.config.identity:
            duration = float(spec.get("leaseDurationSeconds") or self.config.duration_seconds)
            if self._monotonic() < self._observed_at + duration:
                self._stop_leading(f"held by {holder}")
                return False
        return await self._write(
            "PUT",
            self._path,
            {**current, "spec": self._record(spec, renewing=holder == self.config.identity)},
            sent,
        )

    def _record(self, previous: Mapping[str, Any], *, renewing: bool) -> dict[str, Any]:
        now = _stamp(self._wall())
        transitions = int(previous.get("leaseTransitions") or 0)
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": self.config.duration_seconds,
            "acquireTime": (previous.get("acquireTime") or now) if renewing else now,
            "renewTime": now,
            "leaseTransitions": transitions if renewing or not previous else transitions + 1,
        }

    async def _write(self, method: str, path: str, body: Mapping[str, Any], sent: float) -> bool:
        try:
            written = await self._request(method, path, body)
        except KubeError as exc:
            if exc.status == 409:  # someone else wrote first (or created it): not ours
                return False
            raise
        return written is not None and self._won(written, sent)

    def _won(self, written: dict[str, Any], sent: float) -> bool:
        first = not self.may_write()
        self._object = written
        self._observed, self._observed_at = copy.deepcopy(written.get("spec") or {}), self._monotonic()
        self._valid_until = sent + self.config.renew_deadline
        self.renewals += 1
        if first:
            metrics.set_leader(True)
        return True

    def _stop_leading(self, why: str) -> None:
        if self._valid_until > -math.inf:
            logger.error("lost lease %s/%s (%s); stopping", self.config.namespace, self.config.name, why)
            self.lost.set()
        self._valid_until = -math.inf
        self._object = None
        metrics.set_leader(False)

    async def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """One Lease request under a timeout; a 401 reads the credentials again and retries once."""
        self.credentials.refresh_if_rotated()
        timeout = self.config.request_timeout
        if self.may_write():  # never wait past the moment we would stop acting
            timeout = min(timeout, max(0.05, self._valid_until - self._monotonic()))
        async with asyncio.timeout(timeout):
            try:
                return await self.client.request(method, path, body)
            except KubeError as exc:
                if exc.status != 401:
                    raise
                self.credentials.login_again("the API server answered 401")
                return await self.client.request(method, path, body)

    # --- the loops -----------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Try every retry period (jittered as client-go does) until this instance holds the Lease."""
        announced = False
        while True:
            with contextlib.suppress(*FAILURES):
                if await self.try_acquire_or_renew():
                    return
            if not announced:
                logger.info(
                    "waiting for lease %s/%s held by %s",
                    self.config.namespace,
                    self.config.name,
                    self.holder or "another instance",
                )
                announced = True
            period = self.config.retry_period
            await asyncio.sleep(period + random.uniform(0, JITTER_FACTOR * period))  # noqa: S311

    async def keep(self) -> None:
        """Renew every retry period until a renewal cannot be made within the renew deadline."""
        while True:
            await asyncio.sleep(self.config.retry_period)
            if self.may_write():  # else frozen or starved past the deadline: stopped acting already
                try:
                    if await self.try_acquire_or_renew():
                        continue
                except FAILURES as exc:
                    logger.warning("lease renewal failed: %s", exc or type(exc).__name__)
            if self.lost.is_set():
                return
            if not self.may_write():
                self._stop_leading(f"not renewed within {self.config.renew_deadline:g}s")
                return

    async def release(self) -> None:
        """Hand the Lease back while we still hold it, so the next instance need not wait it out."""
        if not self.may_write():
            return
        self._valid_until = -math.inf  # no write may go out after this point
        metrics.set_leader(False)
        for _ in range(3):
            try:
                current = await self._request("GET", self._path)
                if (
                    current is None
                    or (current.get("spec") or {}).get("holderIdentity") != self.config.identity
                ):
                    return  # gone, or someone else's now
                spec = {**current["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
                await self._request("PUT", self._path, {**current, "spec": spec})
                return
            except KubeError as exc:
                if exc.status != 409:
                    return
            except FAILURES:
                return


@contextlib.asynccontextmanager
async def hold(client: KubeClient, config: LeaseConfig, **options: Any) -> AsyncIterator[Lease]:
    """Wait for the Lease, keep it renewed while the block runs, release it afterwards."""
    lease = Lease(client, config, **options)
    await lease.acquire()
    logger.info("acquired lease %s/%s as %s", config.namespace, config.name, config.identity)
    keeper = asyncio.create_task(lease.keep())
    try:
        yield lease
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await lease.release()
