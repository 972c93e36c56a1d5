"""Operator configuration from flags and IAP_OPERATOR_* environment variables (flags win)."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iap_operator.engine.identity import CLUSTER_NAME, DEFAULT_CLUSTER
from iap_operator.engine.settings import ProjectPolicy, Settings
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_operator.wiring import metrics


@dataclass(frozen=True)
class Config:
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide
    default_project: str | None = None
    allowed_projects: str = ""
    cluster_name: str = DEFAULT_CLUSTER  # in every ownership mark: see docs/ownership.md
    endpoints: Mapping[str, str] = field(default_factory=dict)
    anonymous: bool = False
    workers: int = 20
    gcp_threads: int = 16
    gcp_qps: float = 20.0
    poll_interval: float = 15.0
    missing_retry: float = 60.0
    resync_tick: float = 30.0  # how often the timer looks for objects whose resyncPeriod is due
    resync_override: float | None = None  # one period for every object (tests, benchmarks)
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    liveness: str | None = None
    metrics_port: int | None = None
    log_format: str = "text"
    verbose: bool = False
    peering: str | None = None  # kopf peering name; None = standalone
    worker_idle_timeout: float = 5.0  # kopf: idle per-object workers exit after this long
    worker_exit_timeout: float = 2.0  # kopf: time given to workers to finish on shutdown
    lease_name: str | None = None  # a Lease keeps a single active instance
    lease_namespace: str = "default"
    identity: str = "iap-operator"

    def settings(self) -> Settings:
        return Settings(
            cluster_name=self.cluster_name,
            default_project=self.default_project,
            projects=ProjectPolicy.parse(self.allowed_projects),
            poll_interval=self.poll_interval,
            missing_retry=self.missing_retry,
        )

    def gcp(self) -> GcpConfig:
        return GcpConfig(
            endpoints=self.endpoints,
            anonymous=self.anonymous,
            max_workers=self.gcp_threads,
            qps=self.gcp_qps,
            burst=max(1, int(self.gcp_qps * 2)),
            on_call=metrics.observe_gcp_call,
        )


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"IAP_OPERATOR_{name}", default)


def parse_args(argv: Sequence[str]) -> Config:
    p = argparse.ArgumentParser(prog="iap-operator run", description="Run the IapProtectedService operator.")
    p.add_argument(
        "--namespace", "-n", action="append", default=None, help="watch this namespace (repeatable)"
    )
    p.add_argument("--default-project", default=_env("DEFAULT_PROJECT"))
    p.add_argument(
        "--allowed-projects",
        default=_env("ALLOWED_PROJECTS", ""),
        help="NAMESPACE=PROJECT[,PROJECT][;...] with * globs; without a rule a namespace may use only the "
        "default project",
    )
    p.add_argument(
        "--cluster-name",
        default=_env("CLUSTER_NAME", DEFAULT_CLUSTER),
        help="names this cluster in every ownership mark on Google Cloud (lowercase letters, digits, '-', "
        f"at most 40; default {DEFAULT_CLUSTER!r}): the same name adopts what a rebuilt cluster or a "
        "restored namespace finds, another name is another owner (docs/ownership.md)",
    )
    p.add_argument(
        "--endpoint", action="append", default=[], metavar="SERVICE=URL", help=f"one of {SERVICES}"
    )
    p.add_argument(
        "--anonymous-credentials", action="store_true", default=_env("ANONYMOUS_CREDENTIALS") == "1"
    )
    p.add_argument("--workers", type=int, default=int(_env("WORKERS", "20") or 20))
    p.add_argument("--gcp-threads", type=int, default=int(_env("GCP_THREADS", "16") or 16))
    p.add_argument(
        "--gcp-qps",
        type=float,
        default=float(_env("GCP_QPS", "20") or 20),
        help="Google API calls per second across all resources (0: unlimited)",
    )
    p.add_argument("--poll-interval", type=float, default=float(_env("POLL_INTERVAL", "15") or 15))
    p.add_argument("--missing-retry", type=float, default=float(_env("MISSING_RETRY", "60") or 60))
    p.add_argument("--resync-tick", type=float, default=float(_env("RESYNC_TICK", "30") or 30))
    p.add_argument("--resync-override", type=float, default=None)
    p.add_argument("--backoff-base", type=float, default=2.0)
    p.add_argument("--backoff-max", type=float, default=300.0)
    p.add_argument("--liveness", default=_env("LIVENESS"), help="e.g. http://0.0.0.0:8080/healthz")
    p.add_argument("--metrics-port", type=int, default=int(_env("METRICS_PORT", "0") or 0) or None)
    p.add_argument("--log-format", choices=("text", "json"), default=_env("LOG_FORMAT", "text"))
    p.add_argument("--peering", default=_env("PEERING"), help="kopf peering name (default: standalone)")
    p.add_argument(
        "--lease-name", default=_env("LEASE_NAME"), help="hold this Lease while working (one instance)"
    )
    p.add_argument("--lease-namespace", default=_env("LEASE_NAMESPACE", "default"))
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(list(argv))
    if not CLUSTER_NAME.fullmatch(a.cluster_name or ""):
        p.error(f"--cluster-name {a.cluster_name!r}: use 1-40 lowercase letters, digits and '-' (RFC 1123)")
    env_namespaces = [n for n in (_env("NAMESPACES", "") or "").split(",") if n]
    endpoints = {
        s: os.environ[f"IAP_OPERATOR_ENDPOINT_{s.upper()}"]
        for s in SERVICES
        if f"IAP_OPERATOR_ENDPOINT_{s.upper()}" in os.environ
    }
    for item in a.endpoint:
        service, sep, url = item.partition("=")
        if not sep or service not in SERVICES:
            p.error(f"--endpoint {item!r}: expected SERVICE=URL with SERVICE one of {', '.join(SERVICES)}")
        endpoints[service] = url
    return Config(
        namespaces=tuple(a.namespace or env_namespaces),
        default_project=a.default_project,
        allowed_projects=a.allowed_projects,
        cluster_name=a.cluster_name,
        endpoints=endpoints,
        anonymous=a.anonymous_credentials,
        workers=a.workers,
        gcp_threads=a.gcp_threads,
        gcp_qps=a.gcp_qps,
        poll_interval=a.poll_interval,
        missing_retry=a.missing_retry,
        resync_tick=a.resync_tick,
        resync_override=a.resync_override,
        backoff_base=a.backoff_base,
        backoff_max=a.backoff_max,
        liveness=a.liveness,
        metrics_port=a.metrics_port,
        log_format=a.log_format,
        verbose=a.verbose,
        peering=a.peering,
        lease_name=a.lease_name or None,
        lease_namespace=a.lease_namespace,
        identity=os.environ.get("POD_ID") or socket.gethostname(),
    )
