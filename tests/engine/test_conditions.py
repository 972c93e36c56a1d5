"""conditions.render: kstatus-style conditions whose lastTransitionTime moves only when status flips."""

from __future__ import annotations

from iap_operator.engine.conditions import Condition, Reason, Type, render

READY = Condition(Type.READY, True, Reason.UP_TO_DATE, "reachable only through IAP")
NOT_READY = Condition(Type.READY, False, Reason.CERTIFICATE_PROVISIONING, "certificate provisioning")
STALLED = Condition(Type.STALLED, False, Reason.PROGRESSING, "no permanent failure")


def test_first_render_stamps_now() -> None:
    rendered = render([NOT_READY, STALLED], [], 3, "t1")

    assert rendered[0] == {
        "type": "Ready",
        "status": "False",
        "reason": "CertificateProvisioning",
        "message": "certificate provisioning",
        "observedGeneration": 3,
        "lastTransitionTime": "t1",
    }
    assert rendered[1]["lastTransitionTime"] == "t1"


def test_unchanged_status_keeps_the_transition_time_even_when_reason_changes() -> None:
    previous = render([NOT_READY, STALLED], [], 1, "t1")
    other_reason = Condition(Type.READY, False, Reason.API_ERROR, "rate limited")

    rendered = render([other_reason, STALLED], previous, 2, "t2")

    assert [c["lastTransitionTime"] for c in rendered] == ["t1", "t1"]
    assert rendered[0]["reason"] == "ApiError"
    assert rendered[0]["observedGeneration"] == 2


def test_a_status_flip_moves_the_transition_time() -> None:
    previous = render([NOT_READY, STALLED], [], 1, "t1")

    rendered = render([READY, STALLED], previous, 1, "t2")

    assert rendered[0]["status"] == "True"
    assert rendered[0]["lastTransitionTime"] == "t2"
    assert rendered[1]["lastTransitionTime"] == "t1"


def test_unknown_status_and_a_previous_condition_without_time() -> None:
    unknown = Condition(Type.PROTECTED, None, Reason.PROGRESSING, "checking")
    previous = [{"type": "Protected", "status": "Unknown"}]

    rendered = render([unknown], previous, 1, "t5")

    assert rendered[0]["status"] == "Unknown"
    assert rendered[0]["lastTransitionTime"] == "t5"
