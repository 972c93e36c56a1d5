"""`iap-operator run`: configure logging and metrics, build the engine and adapters, run kopf."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Sequence

import kopf

from iap_operator.engine.reconcile import Reconciler
from iap_operator.engine.teardown import Teardown
from iap_operator.gcp.cloud import build_cloud
from iap_operator.gcp.config import WriteGate, always_open
from iap_operator.wiring import banner, handlers, kube, leader, logs, metrics
from iap_operator.wiring.config import Config, parse_args
from iap_operator.wiring.kube import KubeClient


def build_registry(config: Config, may_write: WriteGate = always_open) -> kopf.OperatorRegistry:
    """Handlers over the engine and adapters; every Google Cloud write asks `may_write` first."""
    cloud = build_cloud(dataclasses.replace(config.gcp(), may_write=may_write))
    settings = config.settings()
    kube = KubeClient()
    # Every Secret value the engine reads is remembered by the log filter: no log line can carry it.
    secrets = logs.RememberSecrets(kube)
    app = handlers.App(config, Reconciler(cloud, secrets, settings), Teardown(cloud, settings), kube)
    registry = kopf.OperatorRegistry()
    handlers.register(registry, app)
    return registry


async def operate(
    config: Config,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    may_write: WriteGate = always_open,
) -> None:
    """Run the operator until `stop_flag` is set (or forever)."""
    await kopf.operator(
        registry=build_registry(config, may_write),
        clusterwide=not config.namespaces,
        namespaces=list(config.namespaces),
        standalone=config.peering is None,
        peering_name=config.peering,
        liveness_endpoint=config.liveness,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )


async def run(config: Config) -> int:
    """Operate, under the Lease when one is configured; 1 when the Lease was lost.

    Under a Lease, every Google Cloud write is fenced by it: once the leader has not renewed within the
    renew deadline, no write leaves this process, and kopf is stopped.
    """
    if not config.lease_name:
        await operate(config)
        return 0
    lease_config = leader.LeaseConfig(
        config.lease_name,
        config.lease_namespace,
        config.identity,
        duration=config.lease_duration,
        renew_deadline=config.lease_renew_deadline,
        retry_period=config.lease_retry_period,
    )
    async with leader.hold(KubeClient(kube.login()), lease_config) as lease:
        stop = asyncio.Event()
        relay = asyncio.create_task(lease.lost.wait())
        relay.add_done_callback(lambda _: stop.set())
        try:
            await operate(config, stop_flag=stop, may_write=lease.may_write)
        finally:
            relay.cancel()
        return 1 if lease.lost.is_set() else 0


def main(argv: Sequence[str]) -> int:
    config = parse_args(argv)
    logs.configure_logging(config.log_format, logging.DEBUG if config.verbose else logging.INFO)  # type: ignore[arg-type]
    banner.announce(config)
    if config.metrics_port:
        metrics.start_metrics_server(config.metrics_port)
    return asyncio.run(run(config))
