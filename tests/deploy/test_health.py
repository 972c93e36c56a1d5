"""The Argo CD health check and the kstatus reading of the same hand-written statuses."""

from __future__ import annotations

import pytest

from .argocd import argocd_health
from .kstatus import kstatus, kstatus_violations
from .statuses import CASES, READY, Case, condition, not_ready, resource, written


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_argocd_health(case: Case) -> None:
    status, message = argocd_health(case.body)
    assert status == case.argocd
    assert case.message in message


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_kstatus(case: Case) -> None:
    assert kstatus(case.body)[0] == case.kstatus


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_kstatus_violations(case: Case) -> None:
    violations = kstatus_violations(case.body)
    assert len(violations) == len(case.violations), violations
    for expected, found in zip(case.violations, violations, strict=True):
        assert expected in found


def test_stale_ready_is_never_healthy() -> None:
    # Ready True from generation 4 says nothing about generation 5.
    body = resource(generation=5, status=written(4, condition("Ready", "True", "UpToDate", generation=4)))
    assert argocd_health(body)[0] == "Progressing"
    assert kstatus(body)[0] == "InProgress"


@pytest.mark.parametrize(
    "reason", ["InvalidSpec", "PermissionDenied", "ManagementConflict", "OAuthClientChangeRefused"]
)
def test_every_permanent_reason_is_degraded_as_the_operator_writes_it(reason: str) -> None:
    body = resource(status=written(1, *not_ready("Stalled", reason, "needs a person")))
    assert argocd_health(body) == ("Degraded", "needs a person")
    assert kstatus(body)[0] == "Failed"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_argocd_and_flux_agree(case: Case) -> None:
    """Argo CD's verdict is kstatus' in Argo CD's words (Terminating is in progress too)."""
    in_argocd = {
        "Current": "Healthy",
        "Failed": "Degraded",
        "InProgress": "Progressing",
        "Terminating": "Progressing",
    }
    if case.name == "not yet reconciled" or case.violations:
        # No status yet, or one the operator never writes (a kstatus violation): kstatus calls a status
        # without conditions or observedGeneration Current; Argo CD waits for the operator's word instead.
        return
    assert in_argocd[case.kstatus] == case.argocd


@pytest.mark.parametrize(
    "reason", ["Creating", "Updating", "DependencyNotReady", "ApiError", "DeleteFailed", "NotFound"]
)
def test_transient_reasons_are_progressing(reason: str) -> None:
    body = resource(status=written(1, condition("Ready", "False", reason, "working on it")))
    assert argocd_health(body) == ("Progressing", "working on it")


def test_message_falls_back_to_the_reason() -> None:
    ready = {key: value for key, value in READY.items() if key != "message"}
    assert argocd_health(resource(status=written(1, ready))) == ("Healthy", "UpToDate")


def test_null_fields_are_absent_as_in_argocd() -> None:
    body = resource(status={"observedGeneration": None, "conditions": None})
    assert argocd_health(body)[0] == "Progressing"
