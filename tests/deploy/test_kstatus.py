"""The kstatus checker itself: each rule, on minimal statuses."""

from __future__ import annotations

from .kstatus import kstatus, kstatus_violations
from .statuses import READY, condition, resource, written


def test_generation_mismatch_is_in_progress_with_cli_utils_message() -> None:
    assert kstatus(resource(generation=3, status=written(2, READY))) == (
        "InProgress",
        "IapProtectedService generation is 3, but latest observed generation is 2",
    )


def test_reconciling_true_wins_over_ready() -> None:
    body = resource(status=written(1, READY, condition("Reconciling", "True", "Updating", "patching")))
    assert kstatus(body) == ("InProgress", "patching")


def test_stalled_true_is_failed() -> None:
    body = resource(status=written(1, condition("Stalled", "True", "NotFound", "no such service")))
    assert kstatus(body) == ("Failed", "no such service")


def test_abnormal_true_conditions_when_false_change_nothing() -> None:
    body = resource(
        status=written(
            1, READY, condition("Reconciling", "False", "UpToDate"), condition("Stalled", "False", "UpToDate")
        )
    )
    assert kstatus(body)[0] == "Current"
    assert kstatus_violations(body) == []


def test_ready_false_is_in_progress_and_true_is_current() -> None:
    assert kstatus(resource(status=written(1, condition("Ready", "False", "Creating"))))[0] == "InProgress"
    assert kstatus(resource(status=written(1, READY)))[0] == "Current"


def test_deletion_is_terminating() -> None:
    assert (
        kstatus(resource(status=written(1, READY), deletionTimestamp="2026-01-01T00:00:00Z"))[0]
        == "Terminating"
    )


def test_a_well_formed_status_has_no_violations() -> None:
    body = resource(
        generation=2,
        status=written(
            2,
            condition("Ready", "True", "UpToDate", generation=2),
            condition("IapEnabled", "True", "UpToDate", generation=2),
            condition("AccessGranted", "True", "UpToDate", generation=2),
        ),
    )
    assert kstatus_violations(body) == []


def test_condition_field_violations() -> None:
    stale = condition("Reconciling", "False", "UpToDate", generation=1)
    lagging = condition("Protected", "True", "UpToDate", generation=1)  # a step condition may lag
    untimed = condition("IapEnabled", "True", "UpToDate", generation=2)
    del untimed["lastTransitionTime"]
    unobserved = {
        k: v for k, v in condition("AccessGranted", "True", "UpToDate").items() if k != "observedGeneration"
    }
    body = resource(
        generation=2,
        status=written(
            2,
            condition("Ready", "Yes", "up to date", generation=2),
            stale,
            lagging,
            untimed,
            unobserved,
            condition("Stalled", "Unknown", "ApiError", generation=2),
            condition("Stalled", "False", "UpToDate", generation=2),
        ),
    )
    found = "\n".join(kstatus_violations(body))
    for expected in (
        "condition Ready has status 'Yes'",
        "condition Ready has reason 'up to date'",
        "condition Reconciling observedGeneration 1 differs from the status' 2",
        "condition IapEnabled has no lastTransitionTime",
        "condition AccessGranted has no observedGeneration",
        "condition Stalled is Unknown",
        "condition Stalled appears twice",
    ):
        assert expected in found
    assert "condition Protected" not in found


def test_both_abnormal_conditions_true_is_a_violation() -> None:
    body = resource(
        status=written(
            1,
            condition("Ready", "False", "ApiError"),
            condition("Reconciling", "True", "ApiError"),
            condition("Stalled", "True", "ApiError"),
        )
    )
    assert any("both True" in violation for violation in kstatus_violations(body))


def test_observed_generation_ahead_of_generation() -> None:
    body = resource(generation=1, status=written(2, condition("Ready", "True", "UpToDate", generation=2)))
    assert kstatus_violations(body) == ["status.observedGeneration 2 is ahead of metadata.generation 1"]


def test_a_missing_dependency_is_waited_for_without_stalled() -> None:
    # NotFound (the Cloud Run service or the Secret is missing): the operator keeps checking, so no Stalled.
    body = resource(
        status=written(1, condition("Ready", "False", "NotFound", "Secret team-a/oauth is missing"))
    )
    assert kstatus(body)[0] == "InProgress"
    assert kstatus_violations(body) == []
