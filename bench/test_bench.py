"""The benchmark's own arithmetic: critical paths from the latency table, and call classification.

.venv/bin/pytest bench
"""

from __future__ import annotations

import calls
import critical_path as cp
import pytest

from iap_sandbox.emulators.gcp.operations import LatencyProfile

REALISTIC = LatencyProfile.named("realistic")


def test_ready_path_is_the_load_balancer_chain_when_provisioning_is_short() -> None:
    path = cp.critical_path(cp.latencies(REALISTIC, provisioning=30.0), cp.READY_GOALS)
    # The regional serverless NEG falls back to compute's default 5 s (the table's 6 s entry is global).
    # First the service agent (20 s in the table) and the claim: every write of a first pass waits for it.
    assert path.seconds == pytest.approx(20 + 5 + 20 + 10 + 8 + 15)
    assert path.chain == (
        "service identity LRO",
        "invoker IAM",
        "NEG insert",
        "backend service insert",
        "URL map insert",
        "HTTPS proxy insert",
        "HTTPS forwarding rule insert",
    )


def test_ready_path_is_the_certificate_with_the_tables_provisioning() -> None:
    path = cp.critical_path(cp.latencies(REALISTIC), cp.READY_GOALS)
    assert path.seconds == pytest.approx(20 + 5 + 900)
    assert path.chain[-2:] == ("certificate insert", "certificate provisioning")


def test_protected_path_and_scaling() -> None:
    path = cp.critical_path(cp.latencies(LatencyProfile.named("realistic", 0.5)), cp.PROTECTED_GOALS)
    assert path.seconds == pytest.approx((20 + 5 + 20) * 0.5)
    assert path.chain[-1] == "backend service insert"


def test_longest_chain_follows_the_slowest_dependency() -> None:
    dag = (
        cp.Op("a", ("x", "a", "i")),
        cp.Op("b", ("x", "b", "i")),
        cp.Op("c", None, ("a", "b")),
        cp.Op("d", ("x", "d", "i"), ("c",)),
    )
    table = cp.latencies(
        LatencyProfile({("x", "a", "i"): 1, ("x", "b", "i"): 3, ("x", "d", "i"): 2}), dag=dag
    )
    path = cp.critical_path(table, ["d", "a"], dag)
    assert (path.seconds, path.chain) == (5, ("b", "c", "d"))


def test_reads_writes_and_labels() -> None:
    log = [
        {"method": "POST", "path": "/compute/v1/projects/p/global/operations/op-1/wait"},
        {"method": "POST", "path": "/v1/projects/1/iap_web/compute/services/123:getIamPolicy"},
        {"method": "POST", "path": "/v1/projects/1/iap_web/compute/services/123:setIamPolicy"},
        {"method": "GET", "path": "/compute/v1/projects/p/global/backendServices/bs-1"},
        {"method": "POST", "path": "/emulator/reset"},
    ]
    split = calls.split(log)
    assert (split["reads"], split["writes"]) == (3, 1)
    assert split["write_calls"] == ["POST v1/projects/*/iap_web/compute/services/*:setIamPolicy"]
    assert calls.label(log[0]) == "POST compute/v1/projects/*/global/operations/*/wait"
