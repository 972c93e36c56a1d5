"""Operator configuration from flags and IAP_OPERATOR_* environment variables (flags win)."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iap_operator.engine.settings import ProjectPolicy, Settings
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_operator.gcp.retries import RetryPolicy
from iap_operator.wiring import metrics


@dataclass(frozen=True)
class Config:
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide
    default_project: str | None = None
    allowed_projects: str = ""
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
    # Leader election (client-go's semantics and defaults) and per-call GCP retries.
    lease_duration: float = 15.0
    lease_renew_deadline: float = 10.0
    lease_retry_period: float = 2.0
    gcp_call_deadline: float = 30.0
    gcp_retry_initial: float = 0.25
    gcp_retry_max: float = 8.0
    gcp_retry_budget: float = 3.0

    def settings(self) -> Settings:
        return Settings(
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
            retry=RetryPolicy(
                deadline=self.gcp_call_deadline, initial=self.gcp_retry_initial, max_pause=self.gcp_retry_max
            ),
            retry_budget_ratio=self.gcp_retry_budget,
            on_call=metrics.observe_gcp_call,
            on_retry=metrics.observe_gcp_retry,
            on_refused=metrics.observe_gcp_refused,
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
    _resilience_flags(p)
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(list(argv))
    if not a.lease_duration > a.lease_renew_deadline > 1.2 * a.lease_retry_period > 0:
        p.error("expected --lease-duration > --lease-renew-deadline > 1.2 x --lease-retry-period > 0")
    if a.gcp_call_deadline < 0 or a.gcp_retry_initial <= 0 or a.gcp_retry_max <= 0 or a.gcp_retry_budget < 0:
        p.error("GCP retry settings: deadline >= 0, initial and max pauses > 0, budget >= 0")
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
        **{name: getattr(a, name) for name, _ in _RESILIENCE},
    )


# Leader election timing (client-go's meaning and defaults) and per-call Google API retries: the Config
# field, its help. The flag is --field-with-dashes, the variable IAP_OPERATOR_FIELD; the default is Config's.
_RESILIENCE = (
    ("lease_duration", "seconds a standby waits without seeing the Lease change before taking it over"),
    (
        "lease_renew_deadline",
        "seconds the leader keeps acting without a successful renewal; then it stops writing and exits. "
        "Less than --lease-duration",
    ),
    (
        "lease_retry_period",
        "seconds between Lease renewals and acquisition attempts; the renew deadline must exceed 1.2 x this",
    ),
    (
        "gcp_call_deadline",
        "seconds after its first attempt a Google API call is no longer retried; the reconcile's own backoff "
        "takes over (0: no per-call retries)",
    ),
    ("gcp_retry_initial", "seconds: the first retry pause is random up to this, doubling per retry"),
    ("gcp_retry_max", "seconds: the longest retry pause, unless Retry-After asks for more"),
    (
        "gcp_retry_budget",
        "retries each successful Google API call pays for, process-wide; when calls mostly fail, retries "
        "stop multiplying the load",
    ),
)


def _resilience_flags(p: argparse.ArgumentParser) -> None:
    defaults = Config()
    for name, text in _RESILIENCE:
        variable = name.upper()
        default = float(_env(variable) or getattr(defaults, name))
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=float,
            default=default,
            help=f"{text} (IAP_OPERATOR_{variable}, default {getattr(defaults, name):g})",
        )
