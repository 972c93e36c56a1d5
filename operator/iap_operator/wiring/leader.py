"""A single active instance: hold a coordination.k8s.io/v1 Lease while the operator works.

Acquire before kopf starts (wait while another live holder has it), renew every `renew` seconds with
updates guarded by resourceVersion, signal `lost` when a renewal cannot be made before the lease expires,
and release on a clean shutdown so the next instance starts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from iap_operator.wiring.kube import KubeClient, KubeError

logger = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _stamp(when: datetime.datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse(text: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass(frozen=True)
class LeaseConfig:
    name: str
    namespace: str
    identity: str
    duration: float = 15.0
    renew: float = 5.0


class Lease:
    def __init__(self, client: KubeClient, config: LeaseConfig) -> None:
        self.client = client
        self.config = config
        self.lost = asyncio.Event()
        self._lease: dict[str, Any] | None = None

    @property
    def _path(self) -> str:
        c = self.config
        return f"/apis/coordination.k8s.io/v1/namespaces/{c.namespace}/leases/{c.name}"

    def _spec(self, transitions: int, acquired: str | None = None) -> dict[str, Any]:
        now = _stamp(_now())
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.duration)),
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire(self) -> bool:
        """One attempt: True when we hold the Lease afterwards."""
        c = self.config
        current = await self.client.request("GET", self._path)
        try:
            if current is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": c.name, "namespace": c.namespace},
                    "spec": self._spec(0),
                }
                self._lease = await self.client.request(
                    "POST", f"/apis/coordination.k8s.io/v1/namespaces/{c.namespace}/leases", body
                )
                return True
            spec = current.get("spec") or {}
            holder = spec.get("holderIdentity")
            renewed = _parse(spec.get("renewTime"))
            duration = float(spec.get("leaseDurationSeconds") or c.duration)
            expired = renewed is None or (_now() - renewed).total_seconds() > duration
            if holder not in (None, "", c.identity) and not expired:
                return False
            transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == c.identity else 1)
            acquired = spec.get("acquireTime") if holder == c.identity else None
            current["spec"] = self._spec(transitions, acquired)
            self._lease = await self.client.request("PUT", self._path, current)  # resourceVersion guards it
            return True
        except KubeError as exc:
            if exc.status == 409:  # someone else moved first
                return False
            raise

    async def renew_once(self) -> None:
        assert self._lease is not None, "renew before acquire"
        lease = dict(self._lease)
        spec = dict(lease.get("spec") or {})
        spec["renewTime"] = _stamp(_now())
        lease["spec"] = spec
        self._lease = await self.client.request("PUT", self._path, lease)

    async def release(self) -> None:
        """Hand the Lease back if we still hold it (read afresh: a renewal may have been cut short)."""
        if self._lease is None:
            return
        self._lease = None
        for _ in range(3):
            current = await self.client.request("GET", self._path)
            if current is None or (current.get("spec") or {}).get("holderIdentity") != self.config.identity:
                return  # gone, or someone else's now
            current["spec"] = {**current["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
            try:
                await self.client.request("PUT", self._path, current)
                return
            except KubeError as exc:
                if exc.status != 409:
                    return

    async def keep(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.config.duration
        while True:
            await asyncio.sleep(self.config.renew)
            try:
                await self.renew_once()
                deadline = asyncio.get_running_loop().time() + self.config.duration
            except Exception as exc:
                logger.warning("lease renewal failed: %s", exc)
                if (
                    isinstance(exc, KubeError) and exc.status == 409
                ) or asyncio.get_running_loop().time() >= deadline:
                    logger.error("lost lease %s/%s; stopping", self.config.namespace, self.config.name)
                    self.lost.set()
                    return


@contextlib.asynccontextmanager
async def hold(client: KubeClient, config: LeaseConfig) -> AsyncIterator[Lease]:
    """Wait for the Lease, keep it renewed while the block runs, release it afterwards."""
    lease = Lease(client, config)
    announced = False
    while not await lease.try_acquire():
        if not announced:
            logger.info("waiting for lease %s/%s held by another instance", config.namespace, config.name)
            announced = True
        await asyncio.sleep(config.renew)
    logger.info("acquired lease %s/%s as %s", config.namespace, config.name, config.identity)
    keeper = asyncio.create_task(lease.keep())
    try:
        yield lease
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await lease.release()
