"""Metrics: names, labels and the /metrics endpoint (on 127.0.0.1, an ephemeral port)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import REGISTRY as GLOBAL_REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from iap_operator.engine.resources import Key, Kind
from iap_operator.gcp.cloud import build_cloud
from iap_operator.gcp.config import SERVICES
from iap_operator.wiring import metrics
from iap_operator.wiring.config import Config
from iap_operator.wiring.metrics import METRICS, OperatorMetrics, start_metrics_server
from iap_sandbox.emulators.gcp.testing import run_gcp_emulator


def sample(name: str, **labels: str) -> float:
    value = METRICS.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def keys() -> Iterator[list[str]]:
    """Resource keys a test sets; forgotten afterwards so the shared gauge stays clean."""
    used: list[str] = []
    yield used
    for key in used:
        metrics.forget_resource(key)


def test_observe_reconcile_counts_by_result_and_times_it() -> None:
    before = sample("iap_operator_reconciles_total", result="requeue")
    count_before = sample("iap_operator_reconcile_duration_seconds_count")
    metrics.observe_reconcile("requeue", 0.3)
    assert sample("iap_operator_reconciles_total", result="requeue") == before + 1
    assert sample("iap_operator_reconcile_duration_seconds_count") == count_before + 1
    assert sample("iap_operator_reconcile_duration_seconds_bucket", le="0.5") >= 1


def test_every_result_is_exported_before_it_happens() -> None:
    fresh = OperatorMetrics()
    for result in ("success", "requeue", "error", "permanent"):
        assert fresh.registry.get_sample_value("iap_operator_reconciles_total", {"result": result}) == 0


def test_unknown_reconcile_result_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reconcile result"):
        metrics.observe_reconcile("ok", 1.0)  # type: ignore[arg-type]


def test_observe_gcp_call_labels() -> None:
    labels = {"service": "compute", "method": "backendServices.patch", "code": "412"}
    before = sample("iap_operator_gcp_api_calls_total", **labels)
    metrics.observe_gcp_call("compute", "backendServices.patch", 412)
    assert sample("iap_operator_gcp_api_calls_total", **labels) == before + 1


def test_observe_drift_repair() -> None:
    before = sample("iap_operator_drift_repairs_total", kind="BackendService")
    metrics.observe_drift_repair("BackendService")
    assert sample("iap_operator_drift_repairs_total", kind="BackendService") == before + 1


def test_resources_gauge_counts_by_ready_status_and_reason(keys: list[str]) -> None:
    # The registry is process-wide: resources other tests' operators reconciled may already be counted.
    up = {"condition": "Ready", "status": "True", "reason": "UpToDate"}
    denied = {"condition": "Ready", "status": "False", "reason": "PermissionDenied"}
    up_before, denied_before = (
        sample("iap_operator_resources", **up),
        sample("iap_operator_resources", **denied),
    )
    keys += ["team-a/web", "team-a/api", "team-b/web"]
    metrics.set_resource_state("team-a/web", "True", "UpToDate")
    metrics.set_resource_state("team-a/api", "True", "UpToDate")
    metrics.set_resource_state("team-b/web", "False", "PermissionDenied")
    assert sample("iap_operator_resources", **up) == up_before + 2
    assert sample("iap_operator_resources", **denied) == denied_before + 1

    metrics.set_resource_state("team-b/web", "True", "UpToDate")  # replaces, never adds
    assert sample("iap_operator_resources", **up) == up_before + 3
    assert sample("iap_operator_resources", **denied) == denied_before
    if not denied_before:  # an emptied label set disappears instead of staying at 0
        assert METRICS.registry.get_sample_value("iap_operator_resources", denied) is None

    metrics.forget_resource("team-a/api")
    metrics.forget_resource("team-a/never-seen")
    assert sample("iap_operator_resources", **up) == up_before + 2


def test_the_global_registry_is_left_alone() -> None:
    names = {metric.name for metric in GLOBAL_REGISTRY.collect()}
    assert not any(name.startswith("iap_operator") for name in names)


def test_metrics_server_serves_the_registry(keys: list[str]) -> None:
    keys.append("team-c/served")
    metrics.set_resource_state("team-c/served", "Unknown", "Progressing")
    server = start_metrics_server(0, "127.0.0.1")
    try:
        assert server.port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            assert response.status == 200
            body = response.read().decode()
    finally:
        server.stop()
    families = {family.name: family for family in text_string_to_metric_families(body)}
    assert {
        "iap_operator_reconciles",
        "iap_operator_reconcile_duration_seconds",
        "iap_operator_gcp_api_calls",
        "iap_operator_resources",
        "iap_operator_drift_repairs",
    } <= set(families)
    assert families["iap_operator_reconcile_duration_seconds"].type == "histogram"
    served = [s for s in families["iap_operator_resources"].samples if s.labels.get("status") == "Unknown"]
    assert [s.value for s in served] == [1]


def test_metrics_server_can_serve_another_registry() -> None:
    own = OperatorMetrics()
    own.drift_repairs.labels(kind="UrlMap").inc(3)
    server = start_metrics_server(0, "127.0.0.1", registry=own.registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.stop()
    assert 'iap_operator_drift_repairs_total{kind="UrlMap"} 3.0' in body


def test_observe_gcp_retries_and_refusals() -> None:
    retry = {"service": "compute", "method": "urlMaps.get", "code": "503"}
    refused = {"service": "iap", "reason": "budget"}
    before = sample("iap_operator_gcp_api_retries_total", **retry)
    refused_before = sample("iap_operator_gcp_api_retries_refused_total", **refused)
    fenced_before = sample("iap_operator_gcp_writes_fenced_total", service="compute")
    metrics.observe_gcp_retry("compute", "urlMaps.get", 503)
    metrics.observe_gcp_refused("iap", "setIamPolicy", "budget")
    metrics.observe_gcp_refused("compute", "urlMaps.patch", "fenced")
    assert sample("iap_operator_gcp_api_retries_total", **retry) == before + 1
    assert sample("iap_operator_gcp_api_retries_refused_total", **refused) == refused_before + 1
    assert sample("iap_operator_gcp_writes_fenced_total", service="compute") == fenced_before + 1
    fenced = {"service": "compute", "reason": "fenced"}
    assert METRICS.registry.get_sample_value("iap_operator_gcp_api_retries_refused_total", fenced) is None


def test_leader_gauge() -> None:
    metrics.set_leader(True)
    assert sample("iap_operator_leader") == 1
    metrics.set_leader(False)
    assert sample("iap_operator_leader") == 0


async def test_the_operators_gcp_config_reports_retries() -> None:
    """`Config.gcp()` wires the retry hooks: a 503 answered once is one retry of that method and code."""
    labels = {"service": "compute", "method": "globalAddresses.get", "code": "503"}
    before = sample("iap_operator_gcp_api_retries_total", **labels)
    async with run_gcp_emulator() as emu:
        emu.add_fault(method="GET", path=r"/addresses/", status=503, count=1)
        pool = ThreadPoolExecutor(max_workers=2)
        try:
            config = Config(endpoints=dict.fromkeys(SERVICES, emu.url), anonymous=True).gcp()
            cloud = build_cloud(config, pool)
            assert await cloud.addresses.find("demo-project", Key(Kind.ADDRESS, "nowhere")) is None
        finally:
            pool.shutdown(wait=False)
    assert sample("iap_operator_gcp_api_retries_total", **labels) == before + 1
