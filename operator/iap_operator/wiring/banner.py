"""What `iap-operator run` says when it starts: the checks a user needs first, then one banner.

`announce(config)` exits with one line when no Google credentials can be found (instead of the client
library's traceback), then logs the version and everything the operator will touch: namespaces,
projects, endpoints, the cluster, resync and rate settings. It never logs a secret: credentials are
named by kind and account, endpoints lose any user:password part.
"""

from __future__ import annotations

import logging
import urllib.parse

import google.auth.exceptions
from google.auth.credentials import Credentials

from iap_operator.gcp.clients import credentials_for
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_operator.version import operator_version
from iap_operator.wiring import kube
from iap_operator.wiring.config import Config

log = logging.getLogger("iap_operator.startup")

MISSING_CREDENTIALS = (
    "no Google credentials found. On GKE, use Workload Identity (annotate the "
    "operator's ServiceAccount with iam.gke.io/gcp-service-account); elsewhere set "
    "GOOGLE_APPLICATION_CREDENTIALS=/path/to/key.json or run `gcloud auth application-default login`; "
    "against emulators pass --anonymous-credentials (with --endpoint SERVICE=URL)."
)


def check_credentials(gcp: GcpConfig, command: str = "run") -> str:
    """How `iap-operator COMMAND` authenticates to Google, in words; SystemExit (one line) when it cannot."""
    if gcp.anonymous:
        return "anonymous (--anonymous-credentials: emulators only)"
    probe = logging.getLogger(
        "google.auth"
    )  # its "metadata server not found" warnings: the line below says it
    level, probe.level = probe.level, logging.ERROR
    try:
        credentials = credentials_for(gcp)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        detail = " ".join(str(exc).split())
        raise SystemExit(f"iap-operator {command}: {MISSING_CREDENTIALS} ({detail})") from None
    finally:
        probe.setLevel(level)
    return describe(credentials)


def describe(credentials: Credentials) -> str:
    """The kind of Application Default Credentials and, when known, the account (never a key)."""
    module = type(credentials).__module__
    account = getattr(credentials, "service_account_email", None)
    kinds = {
        "google.auth.compute_engine": "the metadata server (Workload Identity on GKE)",
        "google.oauth2.service_account": "a service account key (GOOGLE_APPLICATION_CREDENTIALS)",
        "google.auth.external_account": "Workload Identity Federation",
        "google.auth.identity_pool": "Workload Identity Federation",
        "google.auth.impersonated_credentials": "service account impersonation",
        "google.oauth2.credentials": "user credentials (gcloud auth application-default login)",
    }
    kind = next((text for prefix, text in kinds.items() if module.startswith(prefix)), module)
    shown = account if isinstance(account, str) and account not in {"", "default"} else None
    return f"Application Default Credentials: {kind}" + (f", {shown}" if shown else "")


def _without_userinfo(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _cluster() -> str:
    """The Kubernetes API the operator will use (as kopf will log in), or why it is not known yet."""
    try:
        info = kube.login()
    except Exception as exc:  # kopf reports login failures itself, properly; the banner only informs
        return f"unknown ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
    if info is None:
        return "none found (no in-cluster service account, no kubeconfig)"
    return _without_userinfo(str(info.server))


def settings(config: Config, credentials: str, cluster: str) -> list[tuple[str, str]]:
    """The banner's (label, value) pairs."""
    rows = [
        ("cluster", cluster),
        ("namespaces", ", ".join(config.namespaces) if config.namespaces else "all namespaces"),
        ("default project", config.default_project or "none"),
        ("allowed projects", config.allowed_projects.strip() or "no rules (only the default project)"),
        ("credentials", credentials),
    ]
    overridden = [
        f"{s}={_without_userinfo(config.endpoints[s])}" for s in SERVICES if config.endpoints.get(s)
    ]
    rest = [s for s in SERVICES if not config.endpoints.get(s)]
    endpoints = ", ".join(overridden + ([f"Google's for {', '.join(rest)}"] if rest else []))
    rows.append(("endpoints", endpoints if overridden else "Google's"))
    period = (
        f"{config.resync_override:g}s for every resource"
        if config.resync_override
        else "each resource's spec.resyncPeriod"
    )
    qps = f"{config.gcp_qps:g} calls/s" if config.gcp_qps > 0 else "unlimited"
    lease = f"{config.lease_namespace}/{config.lease_name}" if config.lease_name else "none"
    rows += [
        ("resync", f"{period}, spread by one scheduler"),
        ("Google API rate", f"{qps}, {config.gcp_threads} calls at once"),
        ("workers", f"{config.workers} resources at once"),
        ("Lease", f"{lease} (identity {config.identity})"),
        ("shard", config.shard or "none (one instance does every namespace it watches)"),
        ("metrics", f"port {config.metrics_port}" if config.metrics_port else "off"),
        ("liveness", config.liveness or "off"),
    ]
    return rows


def announce(config: Config) -> None:
    """Refuse to start without Google credentials (one clear line), then log the banner."""
    credentials = check_credentials(config.gcp())
    rows = settings(config, credentials, _cluster())
    width = max(len(label) for label, _ in rows) + 2
    log.info("iap-operator %s starting", operator_version())
    for label, value in rows:
        log.info("  %s %s", f"{label}:".ljust(width), value)
