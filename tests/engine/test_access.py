"""IAM: members added and removed, only our own bindings revoked, conditions, etag conflicts."""

from __future__ import annotations

from typing import Any

from iap_operator.engine.conditions import Reason
from iap_operator.engine.errors import Fault
from iap_operator.engine.resources import IamTarget, IamTargetKind

from .fakes import Call, FakeGcp
from .scenario import (
    ACCESSOR,
    AGENT_MEMBER,
    ALICE,
    BOB,
    INVOKER,
    INVOKER_TARGET,
    NUMBER,
    Harness,
    grant_condition,
    reasons,
    spec,
)

CAROL = "user:carol@example.com"
VIEWER = "roles/iap.settingsAdmin"
OFFICE = ("office", "from the office", 'request.host == "app.example.com"')
HOURS = ("hours", "", "request.time.getHours('UTC') < 18")


def access(*members: str, condition: tuple[str, str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"members": list(members)}
    if condition:
        body["condition"] = {"title": condition[0], "description": condition[1], "expression": condition[2]}
    return body


def access_target(gcp: FakeGcp) -> IamTarget:
    return IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, gcp.backend_services.only().id)


async def test_members_added_and_removed(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec(access=access(ALICE)))
    target = access_target(gcp)
    gcp.iam.add(target, ACCESSOR, CAROL)  # someone else's grant, same role
    gcp.iam.add(target, VIEWER, ALICE)  # someone else's grant, another role
    harness.bump()

    outcome = await harness.reconcile(spec(access=access(BOB, CAROL)))

    assert gcp.iam.members(target, ACCESSOR) == {BOB, CAROL}  # Alice revoked: we granted her
    assert gcp.iam.members(target, ACCESSOR, grant_condition()) == {BOB, CAROL}  # our own binding
    assert gcp.iam.members(target, ACCESSOR, None) == {CAROL}  # theirs, untouched
    assert gcp.iam.members(target, VIEWER) == {ALICE}
    assert outcome.status["grants"]["access"] == [BOB, CAROL]  # what our binding holds
    assert [(c.port, c.method) for c in gcp.writes()] == [("iam", "set_policy")]
    assert any("revoked" in e.message and ALICE in e.message for e in outcome.events)

    harness.bump()
    await harness.reconcile(spec(access=access()))

    assert gcp.iam.members(target, ACCESSOR) == {CAROL}  # a foreign grant always survives
    assert gcp.iam.members(target, VIEWER) == {ALICE}


async def test_a_member_already_removed_by_hand_is_not_reported_as_revoked(
    gcp: FakeGcp, harness: Harness
) -> None:
    await harness.ready(spec(access=access(ALICE, BOB)))
    target = access_target(gcp)
    gcp.iam.remove(target, ACCESSOR, BOB)  # someone removed Bob by hand; now the spec drops him too
    harness.bump()

    outcome = await harness.reconcile(spec(access=access(ALICE, CAROL)))

    assert gcp.iam.members(target, ACCESSOR) == {ALICE, CAROL}
    assert [(c.port, c.method) for c in gcp.writes()] == [("iam", "set_policy")]  # Carol's grant only
    messages = [e.message for e in outcome.events if "httpsResourceAccessor" in e.message]
    assert messages, "the grant is reported"
    assert not [m for m in messages if "revoked" in m], messages  # Bob was not there to revoke
    assert outcome.status["grants"]["access"] == [ALICE, CAROL]


async def test_a_member_granted_by_someone_else_is_never_revoked(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec(access=access(ALICE)))
    target = access_target(gcp)
    gcp.iam.remove(target, ACCESSOR, ALICE)
    gcp.iam.add(target, ACCESSOR, BOB)  # Bob is granted by someone else before the spec names him
    harness.bump()

    outcome = await harness.reconcile(spec(access=access(ALICE, BOB)))
    assert gcp.iam.members(target, ACCESSOR) == {ALICE, BOB}
    assert outcome.status["grants"]["access"] == [ALICE, BOB]  # both in our binding, Bob in theirs too

    harness.bump()
    outcome = await harness.reconcile(spec(access=access()))

    assert gcp.iam.members(target, ACCESSOR) == {BOB}
    assert gcp.iam.members(target, ACCESSOR, None) == {BOB}
    assert outcome.status["grants"]["access"] == []


async def test_a_condition_change_moves_our_bindings(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec(access=access(ALICE, BOB, condition=OFFICE)))
    target = access_target(gcp)
    assert gcp.iam.members(target, ACCESSOR, grant_condition(OFFICE)) == {ALICE, BOB}
    assert gcp.iam.members(target, ACCESSOR, None) == set()
    assert gcp.iam.policy(target).version == 3
    ours = next(b for b in gcp.iam.policy(target).bindings if b.members == {ALICE, BOB})
    assert ours.condition is not None
    assert (ours.condition[0], ours.condition[2]) == (OFFICE[0], OFFICE[2])  # the user's title, expression
    assert ours.condition[1].endswith(f"; {OFFICE[1]}")  # and description, after our mark
    gcp.iam.add(target, ACCESSOR, CAROL, condition=OFFICE)  # foreign, under the same user condition
    harness.bump()

    outcome = await harness.reconcile(spec(access=access(ALICE, BOB, condition=HOURS)))

    assert gcp.iam.members(target, ACCESSOR, grant_condition(HOURS)) == {ALICE, BOB}
    assert gcp.iam.members(target, ACCESSOR, grant_condition(OFFICE)) == set()
    assert gcp.iam.members(target, ACCESSOR, OFFICE) == {CAROL}
    assert outcome.status["grants"]["accessCondition"] == {
        "title": HOURS[0],
        "description": HOURS[1],
        "expression": HOURS[2],
    }
    assert outcome.status["grants"]["access"] == [ALICE, BOB]

    harness.bump()
    outcome = await harness.reconcile(spec(access=access(ALICE)))

    assert gcp.iam.members(target, ACCESSOR, grant_condition()) == {ALICE}
    assert gcp.iam.members(target, ACCESSOR, grant_condition(HOURS)) == set()
    assert gcp.iam.members(target, ACCESSOR, OFFICE) == {CAROL}
    assert "accessCondition" not in outcome.status["grants"]


async def test_invoker_switch_to_all_users_and_back(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())
    gcp.iam.add(INVOKER_TARGET, INVOKER, "serviceAccount:ci@demo-project.iam.gserviceaccount.com")
    harness.bump()

    outcome = await harness.reconcile(spec(invoker="AllUsers"))

    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {
        "allUsers",
        "serviceAccount:ci@demo-project.iam.gserviceaccount.com",
    }
    assert reasons(outcome)["ConfigurationWarning"] == (True, Reason.ALL_USERS_INVOKER)
    assert outcome.status["grants"]["invoker"] == ["allUsers"]

    assert gcp.iam.members(INVOKER_TARGET, INVOKER, None) == {
        "allUsers",  # IAM refuses conditions for allUsers: the plain binding, recorded in our claim
        "serviceAccount:ci@demo-project.iam.gserviceaccount.com",
    }

    harness.bump()
    outcome = await harness.reconcile(spec())

    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {
        AGENT_MEMBER,
        "serviceAccount:ci@demo-project.iam.gserviceaccount.com",
    }
    assert outcome.status["grants"]["invoker"] == [AGENT_MEMBER]


async def test_all_users_someone_else_granted_is_never_revoked(gcp: FakeGcp, harness: Harness) -> None:
    gcp.iam.add(INVOKER_TARGET, INVOKER, "allUsers")  # public before the operator came
    await harness.reconcile(spec(invoker="AllUsers"))
    harness.bump()

    await harness.reconcile(spec())
    assert "allUsers" in gcp.iam.members(INVOKER_TARGET, INVOKER, None)

    outcome = await harness.teardown(spec())
    assert outcome.done
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {"allUsers"}


async def test_an_etag_conflict_redoes_the_read_modify_write(gcp: FakeGcp, harness: Harness) -> None:
    """Another writer changes the policy between our read and our write, once."""
    target_path = str(INVOKER_TARGET)
    raced: list[str] = []

    async def concurrent_writer(call: Call) -> None:
        if call.subject == target_path and not raced:
            raced.append(call.subject)
            gcp.iam.add(INVOKER_TARGET, INVOKER, CAROL)

    gcp.recorder.before("iam", "set_policy", concurrent_writer)

    outcome = await harness.reconcile(spec())

    assert raced
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {AGENT_MEMBER, CAROL}  # the other write survives
    invoker_calls = [c.method for c in gcp.calls() if c.port == "iam" and c.subject == target_path]
    assert invoker_calls == ["get_policy", "set_policy", "get_policy", "set_policy"]
    assert reasons(outcome)["InvokerGranted"] == (True, Reason.UP_TO_DATE)
    assert outcome.error is None


async def test_persistent_etag_conflicts_are_a_transient_error(gcp: FakeGcp, harness: Harness) -> None:
    target_path = str(INVOKER_TARGET)

    async def always_first(call: Call) -> None:
        if call.subject == target_path:
            gcp.iam.add(INVOKER_TARGET, "roles/run.viewer", CAROL)

    gcp.recorder.before("iam", "set_policy", always_first)

    outcome = await harness.reconcile(spec())

    sets = [c for c in gcp.writes() if c.port == "iam" and c.subject == target_path]
    assert len(sets) == harness.settings.iam_attempts
    assert outcome.error is not None
    assert outcome.error.fault is Fault.CONFLICT
    assert not outcome.stalled
    assert reasons(outcome)["InvokerGranted"] == (False, Reason.API_ERROR)
    assert AGENT_MEMBER not in gcp.iam.members(INVOKER_TARGET, INVOKER)
    assert outcome.status["grants"]["invoker"] == []
