"""Cloud errors: transient ones are retried (with the server's hint), permanent ones stall the resource."""

from __future__ import annotations

import pytest

from iap_operator.engine.conditions import Reason
from iap_operator.engine.errors import Fault

from .fakes import FakeGcp
from .scenario import Harness, reasons, spec


async def test_a_429_is_a_transient_error_with_its_retry_after(gcp: FakeGcp, harness: Harness) -> None:
    injected = gcp.fail(
        "backend_services", "create", Fault.TRANSIENT, message="429 rate limited", retry_after=30
    )

    outcome = await harness.reconcile(spec())

    assert outcome.error is injected
    assert outcome.error.retry_after == 30
    assert not outcome.stalled
    state = reasons(outcome)
    assert state["LoadBalancerReady"] == (False, Reason.API_ERROR)
    assert state["IapEnabled"] == (False, Reason.API_ERROR)
    assert state["AccessGranted"] == (False, Reason.DEPENDENCY_NOT_READY)
    assert state["Ready"] == (False, Reason.API_ERROR)
    assert state["Stalled"][0] is False
    assert state["Reconciling"][0] is True
    # Independent steps still did their work; nothing that depends on the backend service was attempted.
    assert state["IngressRestricted"] == (True, Reason.UP_TO_DATE)
    assert (
        not [  # (a read of the proxy picks the certificate in force: it depends on nothing)
            c
            for c in gcp.calls()
            if c.port in {"url_maps", "https_proxies"} and "-um-redirect" not in c.subject and c.write
        ]
    )

    outcome = await harness.reconcile(spec())  # the fault is gone: the retry completes the balancer

    assert outcome.error is None
    assert len(gcp.compute_items()) == 10


async def test_a_5xx_in_preflight_is_transient_and_writes_nothing(gcp: FakeGcp, harness: Harness) -> None:
    gcp.fail("cloud_run", "find", Fault.TRANSIENT, message="503 backend unavailable")

    outcome = await harness.reconcile(spec())

    assert gcp.writes() == []
    assert outcome.error is not None
    assert outcome.error.fault is Fault.TRANSIENT
    assert outcome.error.retry_after is None
    assert not outcome.stalled
    assert reasons(outcome)["Ready"] == (False, Reason.API_ERROR)


@pytest.mark.parametrize(
    ("port", "method", "fault", "reason"),
    [
        ("url_maps", "create", Fault.INVALID, Reason.INVALID_SPEC),
        ("cloud_run", "update", Fault.PERMISSION_DENIED, Reason.PERMISSION_DENIED),
        ("iam", "set_policy", Fault.PERMISSION_DENIED, Reason.PERMISSION_DENIED),
    ],
)
async def test_a_permanent_error_stalls(
    gcp: FakeGcp, harness: Harness, port: str, method: str, fault: Fault, reason: Reason
) -> None:
    gcp.fail(port, method, fault, times=10)

    outcome = await harness.reconcile(spec())

    assert outcome.stalled
    assert outcome.error is None
    state = reasons(outcome)
    assert state["Ready"] == (False, reason)
    assert state["Stalled"] == (True, reason)
    assert state["Reconciling"][0] is False


async def test_transient_wins_over_permanent_so_the_pass_is_retried(gcp: FakeGcp, harness: Harness) -> None:
    gcp.fail("cloud_run", "update", Fault.PERMISSION_DENIED)
    gcp.fail("addresses", "create", Fault.TRANSIENT, retry_after=7)

    outcome = await harness.reconcile(spec())

    assert outcome.error is not None
    assert outcome.error.retry_after == 7
    assert not outcome.stalled


@pytest.mark.parametrize(
    ("port", "method", "fault"),
    [
        ("cloud_run", "update", Fault.NOT_FOUND),  # the service was deleted between read and write
        ("https_proxies", "create", Fault.FAILED_PRECONDITION),
        ("projects", "project_number", Fault.NOT_FOUND),
    ],
)
async def test_an_error_neither_transient_nor_permanent_is_retried(
    gcp: FakeGcp, harness: Harness, port: str, method: str, fault: Fault
) -> None:
    """Otherwise the pass ends with Ready False, Reconciling True and nothing scheduled to look again."""
    gcp.fail(port, method, fault)

    outcome = await harness.reconcile(spec())

    assert not outcome.stalled
    assert outcome.error is not None
    assert outcome.error.fault is fault


async def test_an_unexpected_service_agent_is_never_granted_anything(gcp: FakeGcp, harness: Harness) -> None:
    gcp.identities.answer = "attacker@evil.example.iam.gserviceaccount.com"

    outcome = await harness.reconcile(spec())

    state = reasons(outcome)
    assert state["ServiceAgentReady"] == (False, Reason.INVALID_SPEC)
    assert state["InvokerGranted"] == (False, Reason.DEPENDENCY_NOT_READY)
    assert not [c for c in gcp.writes() if c.port == "iam" and "/locations/" in str(c.subject)]
    members = {m for p in gcp.iam.policies.values() for b in p.bindings for m in b.members}
    assert not [m for m in members if "attacker" in m]
