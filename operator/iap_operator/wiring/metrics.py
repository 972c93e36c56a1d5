"""Prometheus metrics of the operator, kept in a registry of its own (tests read it directly).

The engine and the GCP adapters call the small `observe_*` functions and `set_resource_state` /
`forget_resource`; `start_metrics_server` serves `/metrics` from a daemon thread, so a scrape never
waits on the operator's event loop.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_wsgi_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

ReconcileResult = Literal["success", "requeue", "error", "permanent"]
RECONCILE_RESULTS: tuple[ReconcileResult, ...] = ("success", "requeue", "error", "permanent")

# Reconciles call several GCP APIs, some of them long-running: buckets reach into minutes.
RECONCILE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class ResourceStates(Collector):
    """`iap_operator_resources`: how many resources sit in each Ready (status, reason), counted at scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, tuple[str, str]] = {}

    def set(self, key: str, ready_status: str, reason: str) -> None:
        with self._lock:
            self._states[key] = (ready_status, reason)

    def forget(self, key: str) -> None:
        with self._lock:
            self._states.pop(key, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            tally = Tally(self._states.values())
        family = GaugeMetricFamily(
            "iap_operator_resources",
            "IapProtectedService resources by the status and reason of their Ready condition.",
            labels=["condition", "status", "reason"],
        )
        for (status, reason), count in sorted(tally.items()):
            family.add_metric(["Ready", status, reason], count)
        yield family


class OperatorMetrics:
    """Every metric of the operator, registered in `registry` (never the process-global one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.reconciles = Counter(
            "iap_operator_reconciles_total",
            "Reconciles finished, by result: success, requeue (waiting on GCP), error (retried), "
            "permanent (needs a spec or permission change).",
            ["result"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            "iap_operator_reconcile_duration_seconds",
            "Wall time of one reconcile.",
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.gcp_api_calls = Counter(
            "iap_operator_gcp_api_calls_total",
            "Google Cloud API calls, by service, method and result code (HTTP status or gRPC code name).",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.gcp_api_retries = Counter(
            "iap_operator_gcp_api_retries_total",
            "Google Cloud API calls attempted again after a transient failure, by service, method and the "
            "result code of the failed attempt.",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.gcp_api_retries_refused = Counter(
            "iap_operator_gcp_api_retries_refused_total",
            "Transient Google Cloud API failures handed to the pass-level backoff instead of retried, by "
            "service and reason: unsafe (a write that cannot be repeated safely), attempts, deadline, "
            "budget (the process-wide retry budget is spent).",
            ["service", "reason"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "iap_operator_leader",
            "1 while this instance holds the leader Lease and may write to Google Cloud, else 0.",
            registry=self.registry,
        )
        self.gcp_writes_fenced = Counter(
            "iap_operator_gcp_writes_fenced_total",
            "Google Cloud writes refused because this instance no longer held the leader Lease.",
            ["service"],
            registry=self.registry,
        )
        self.drift_repairs = Counter(
            "iap_operator_drift_repairs_total",
            "Writes that put a GCP resource back to the desired state after it drifted, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.resources = ResourceStates()
        self.registry.register(self.resources)
        # Export every result at zero, so rate() and alerts work before the first failure.
        for result in RECONCILE_RESULTS:
            self.reconciles.labels(result=result)


METRICS = OperatorMetrics()
"""The operator's metrics; `start_metrics_server` serves this registry unless told otherwise."""


def observe_reconcile(result: ReconcileResult, seconds: float) -> None:
    if result not in RECONCILE_RESULTS:
        raise ValueError(f"unknown reconcile result {result!r}; expected one of {RECONCILE_RESULTS}")
    METRICS.reconciles.labels(result=result).inc()
    METRICS.reconcile_duration.observe(seconds)


def observe_gcp_call(service: str, method: str, code: int | str) -> None:
    METRICS.gcp_api_calls.labels(service=service, method=method, code=str(code)).inc()


def observe_gcp_retry(service: str, method: str, code: int | str) -> None:
    METRICS.gcp_api_retries.labels(service=service, method=method, code=str(code)).inc()


def observe_gcp_refused(service: str, method: str, reason: str) -> None:
    """A transient failure not retried (unsafe, attempts, deadline, budget), or a write not sent (fenced)."""
    if reason == "fenced":
        METRICS.gcp_writes_fenced.labels(service=service).inc()
    else:
        METRICS.gcp_api_retries_refused.labels(service=service, reason=reason).inc()


def set_leader(held: bool) -> None:
    METRICS.leader.set(1 if held else 0)


def observe_drift_repair(kind: str) -> None:
    METRICS.drift_repairs.labels(kind=kind).inc()


def set_resource_state(key: str, ready_status: str, reason: str) -> None:
    """Record the Ready condition of one resource (`key`: "namespace/name"); replaces the previous one."""
    METRICS.resources.set(key, ready_status, reason)


def forget_resource(key: str) -> None:
    """Drop a deleted resource from `iap_operator_resources`."""
    METRICS.resources.forget(key)


@dataclass(frozen=True)
class MetricsServer:
    """A running `/metrics` endpoint; `port` is the bound one (useful with port 0)."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    port: int, host: str = "0.0.0.0", registry: CollectorRegistry | None = None
) -> MetricsServer:
    """Serve `/metrics` (the Prometheus text format) from a daemon thread."""
    server, thread = start_wsgi_server(port, addr=host, registry=registry or METRICS.registry)
    return MetricsServer(host=host, port=server.server_port, _server=server, _thread=thread)
