"""Operator configuration from flags and IAP_OPERATOR_* environment variables (flags win)."""

from __future__ import annotations

import argparse
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iap_operator.engine.identity import CLUSTER_NAME, DEFAULT_CLUSTER
from iap_operator.engine.settings import ProjectPolicy, Settings
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_operator.gcp.retries import RetryPolicy
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
    gcp_observe_period: float = 300.0  # shared observation (gcp/snapshots.py); capped by resync_override
    poll_interval: float = 15.0
    missing_retry: float = 60.0
    resync_tick: float = 30.0  # unused since the resync scheduler (wiring/scheduler.py); kept for old callers
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
    lease_name: str | None = None  # a Lease keeps a single active instance (a shard's: <name>-<shard>)
    shard: str | None = None  # this instance's shard: its namespaces, its own Lease (docs/operations.md)
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
            observe_period=min(self.gcp_observe_period, self.resync_override or self.gcp_observe_period),
            retry=RetryPolicy(
                deadline=self.gcp_call_deadline, initial=self.gcp_retry_initial, max_pause=self.gcp_retry_max
            ),
            retry_budget_ratio=self.gcp_retry_budget,
            on_call=metrics.observe_gcp_call,
            on_retry=metrics.observe_gcp_retry,
            on_refused=metrics.observe_gcp_refused,
        )


ENV_PREFIX = "IAP_OPERATOR_"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_name(name: str) -> str:
    return ENV_PREFIX + name


def _env(name: str) -> str | None:
    """The variable's value; unset and empty are the same (the shipped Deployment sets some to "")."""
    return os.environ.get(env_name(name)) or None


def _boolean(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError("expected true or false (1/0, yes/no, on/off)")


def _cluster_name(raw: str) -> str:
    if not CLUSTER_NAME.fullmatch(raw):
        raise ValueError("use 1-40 lowercase letters, digits and '-' (RFC 1123)")
    return raw


def _shard_name(raw: str) -> str:
    if not SHARD_NAME.fullmatch(raw):
        raise ValueError("use 1-20 lowercase letters, digits and '-' (it ends the Lease's name)")
    return raw


SHARD_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?")


def _not_negative(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def convert(raw: str) -> Any:
        value = kind(raw)
        if value < 0:
            raise ValueError(f"{raw!r} is negative")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its errors
    return convert


class FlagParser(argparse.ArgumentParser):
    """argparse whose flags state their default and environment variable in `--help`."""

    def flag(
        self,
        name: str,
        *aliases: str,
        env: str,
        help: str,
        default: Any = None,
        kind: Callable[[str], Any] = str,
        shown: str | None = None,
        **kwargs: Any,
    ) -> None:
        """`name`, defaulting to `IAP_OPERATOR_<env>` when that is set, else to `default`."""
        raw = _env(env)
        value = default
        if raw is not None:
            try:
                value = kind(raw)
            except ValueError as exc:
                self.error(f"{env_name(env)}={raw!r}: {exc}")
            if "choices" in kwargs and value not in kwargs["choices"]:
                self.error(f"{env_name(env)}={raw!r}: expected one of {', '.join(kwargs['choices'])}")
        display = shown if shown is not None else ("none" if default is None else str(default))
        text = f"{help} (default: {display}; env {env_name(env)})"
        if kwargs.get("action") != "store_true":
            kwargs["type"] = kind
        self.add_argument(name, *aliases, default=value, help=text, **kwargs)


def add_google_flags(p: FlagParser) -> None:
    """How a command reaches Google: --endpoint per API, --anonymous-credentials (run, status)."""
    p.add_argument(
        "--endpoint", action="append", default=[], metavar="SERVICE=URL",
        help=f"send one API's calls to URL (an emulator, Private Service Connect); SERVICE is one of "
        f"{', '.join(SERVICES)}; repeatable (default: Google's; env {env_name('ENDPOINT_<SERVICE>')}=URL)",
    )  # fmt: skip
    p.flag(
        "--anonymous-credentials", env="ANONYMOUS_CREDENTIALS", action="store_true", kind=_boolean,
        default=False, shown="off", help="call Google APIs without credentials (emulators only)",
    )  # fmt: skip


def endpoints(p: argparse.ArgumentParser, flags: Sequence[str]) -> dict[str, str]:
    """IAP_OPERATOR_ENDPOINT_<SERVICE> variables, overridden by --endpoint SERVICE=URL flags."""
    found = {s: url for s in SERVICES if (url := _env(f"ENDPOINT_{s.upper()}"))}
    for item in flags:
        service, sep, url = item.partition("=")
        if not sep or service not in SERVICES:
            p.error(f"--endpoint {item!r}: expected SERVICE=URL with SERVICE one of {', '.join(SERVICES)}")
        found[service] = url
    return found


EPILOG = f"""\
Every flag reads the environment variable its help names; a flag on the command line wins, and an
empty variable counts as unset. POD_ID names this instance (the Lease holder, kopf's identity;
default: the host name).

Google credentials: Application Default Credentials. On GKE, Workload Identity (the operator's
Kubernetes ServiceAccount annotated with a Google service account); elsewhere
GOOGLE_APPLICATION_CREDENTIALS=key.json or `gcloud auth application-default login`. Against
emulators: --anonymous-credentials with --endpoint SERVICE=URL for each of {", ".join(SERVICES)}.
"""


def build_parser() -> argparse.ArgumentParser:
    """The flags of `iap-operator run`; each has help, a default and an IAP_OPERATOR_* variable."""
    p = FlagParser(
        prog="iap-operator run",
        description="Run the IapProtectedService operator against a cluster and Google Cloud.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--namespace", "-n", action="append", default=None, metavar="NAMESPACE",
        help=f"watch this namespace or kopf pattern (team-*, !kube-system); repeatable (default: all "
        f"namespaces; env {env_name('NAMESPACES')}, comma-separated)",
    )  # fmt: skip
    add_google_flags(p)
    p.flag(
        "--default-project", env="DEFAULT_PROJECT", metavar="PROJECT",
        help="Google Cloud project of resources without spec.projectId",
    )  # fmt: skip
    p.flag(
        "--allowed-projects", env="ALLOWED_PROJECTS", default="", shown="no rules", metavar="RULES",
        help="which namespace may use which projects: NAMESPACE=PROJECT[,PROJECT][;...] with * globs; "
        "a namespace without a rule may use only the default project",
    )  # fmt: skip
    p.flag(
        "--cluster-name", env="CLUSTER_NAME", default=DEFAULT_CLUSTER, metavar="NAME", kind=_cluster_name,
        help="names this cluster in every ownership mark on Google Cloud (1-40 lowercase letters, digits, "
        "'-'): the same name adopts what a rebuilt cluster or a restored namespace finds, another name is "
        "another owner (docs/ownership.md)",
    )  # fmt: skip
    p.flag(
        "--workers",
        env="WORKERS",
        default=20,
        metavar="N",
        kind=_not_negative(int),
        help="resources reconciled at once",
    )
    p.flag(
        "--gcp-threads", env="GCP_THREADS", default=16, metavar="N", kind=_not_negative(int),
        help="blocking Google client calls at once",
    )  # fmt: skip
    p.flag(
        "--gcp-qps", env="GCP_QPS", default=20.0, metavar="QPS", kind=_not_negative(float),
        help="Google API calls per second across all resources (0: unlimited)",
    )  # fmt: skip
    p.flag(
        "--gcp-observe-period", env="GCP_OBSERVE_PERIOD", default=300.0, metavar="SECONDS",
        kind=_not_negative(float),
        help="seconds one list per collection and project answers every resource's reads (0: a GET each)",
    )  # fmt: skip
    p.flag(
        "--poll-interval", env="POLL_INTERVAL", default=15.0, metavar="SECONDS", kind=_not_negative(float),
        help="seconds between looks while a managed certificate provisions",
    )  # fmt: skip
    p.flag(
        "--missing-retry", env="MISSING_RETRY", default=60.0, metavar="SECONDS", kind=_not_negative(float),
        help="seconds between looks while the Cloud Run service or the OAuth Secret is missing",
    )  # fmt: skip
    p.flag(
        "--resync-tick", env="RESYNC_TICK", default=30.0, metavar="SECONDS", kind=_not_negative(float),
        help="ignored: one scheduler starts each resync when it is due (accepted so that existing "
        "manifests and scripts keep working)",
    )  # fmt: skip
    p.flag(
        "--resync-override", env="RESYNC_OVERRIDE", metavar="SECONDS", kind=_not_negative(float),
        shown="each resource's spec.resyncPeriod",
        help="one resync period, in seconds, for every resource (tests, benchmarks)",
    )  # fmt: skip
    p.flag(
        "--backoff-base", env="BACKOFF_BASE", default=2.0, metavar="SECONDS", kind=_not_negative(float),
        help="seconds before the first retry of a failed pass (doubling, with jitter)",
    )  # fmt: skip
    p.flag(
        "--backoff-max", env="BACKOFF_MAX", default=300.0, metavar="SECONDS", kind=_not_negative(float),
        help="longest pause between retries, in seconds",
    )  # fmt: skip
    p.flag(
        "--liveness", env="LIVENESS", shown="off", metavar="URL",
        help="serve kopf's liveness endpoint at this URL, e.g. http://0.0.0.0:8080/healthz",
    )  # fmt: skip
    p.flag(
        "--metrics-port", env="METRICS_PORT", kind=_not_negative(int), shown="off", metavar="PORT",
        help="serve Prometheus /metrics on this port",
    )  # fmt: skip
    p.flag(
        "--log-format", env="LOG_FORMAT", default="text", choices=("text", "json"),
        help="text, or one JSON object per line",
    )  # fmt: skip
    p.flag(
        "--verbose", env="VERBOSE", action="store_true", kind=_boolean, default=False, shown="off",
        help="debug logging",
    )  # fmt: skip
    p.flag(
        "--lease-name", env="LEASE_NAME", shown="no Lease", metavar="NAME",
        help="hold this coordination.k8s.io Lease while working, so that one instance acts at a time",
    )  # fmt: skip
    p.flag(
        "--lease-namespace", env="LEASE_NAMESPACE", default="default", metavar="NAMESPACE",
        help="the namespace of that Lease",
    )  # fmt: skip
    p.flag(
        "--shard", env="SHARD", shown="no shards", metavar="NAME", kind=_shard_name,
        help="run as the shard NAME of several: it needs --namespace (the shard's namespaces, disjoint from "
        "the other shards') and holds its own Lease, --lease-name followed by -NAME",
    )  # fmt: skip
    p.flag(
        "--peering", env="PEERING", shown="standalone", metavar="NAME",
        help="kopf peering name (the Lease is the supported way to keep one instance active)",
    )  # fmt: skip
    _resilience_flags(p)
    return p


def parse_args(argv: Sequence[str]) -> Config:
    p = build_parser()
    a = p.parse_args(list(argv))
    if not a.lease_duration > a.lease_renew_deadline > 1.2 * a.lease_retry_period > 0:
        p.error("expected --lease-duration > --lease-renew-deadline > 1.2 x --lease-retry-period > 0")
    if a.gcp_retry_initial <= 0 or a.gcp_retry_max <= 0:
        p.error("--gcp-retry-initial and --gcp-retry-max must be greater than 0")
    env_namespaces = [n.strip() for n in (_env("NAMESPACES") or "").split(",") if n.strip()]
    namespaces = tuple(a.namespace or env_namespaces)
    if a.shard and not [n for n in namespaces if not n.startswith("!")]:
        p.error(
            f"--shard {a.shard} needs --namespace (or {env_name('NAMESPACES')}): the namespaces of this "
            "shard; a shard watching every namespace would do the other shards' work too"
        )
    lease_name = a.lease_name or None
    if a.shard and lease_name:
        lease_name = f"{lease_name}-{a.shard}"
    return Config(
        namespaces=namespaces,
        default_project=a.default_project,
        allowed_projects=a.allowed_projects,
        cluster_name=a.cluster_name,
        endpoints=endpoints(p, a.endpoint),
        anonymous=a.anonymous_credentials,
        workers=a.workers,
        gcp_threads=a.gcp_threads,
        gcp_qps=a.gcp_qps,
        gcp_observe_period=a.gcp_observe_period,
        poll_interval=a.poll_interval,
        missing_retry=a.missing_retry,
        resync_tick=a.resync_tick,
        resync_override=a.resync_override,
        backoff_base=a.backoff_base,
        backoff_max=a.backoff_max,
        liveness=a.liveness,
        metrics_port=a.metrics_port or None,
        log_format=a.log_format,
        verbose=a.verbose,
        peering=a.peering,
        lease_name=lease_name,
        shard=a.shard,
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


def _resilience_flags(p: FlagParser) -> None:
    defaults = Config()
    for name, text in _RESILIENCE:
        p.flag(
            f"--{name.replace('_', '-')}", env=name.upper(), default=getattr(defaults, name),
            kind=_not_negative(float), metavar="SECONDS" if "seconds" in text else "N", help=text,
        )  # fmt: skip
