"""iam.grant / iam.revoke: pure edits of one role's members, never touching other bindings."""

from __future__ import annotations

from iap_operator.engine import iam
from iap_operator.engine.resources import Binding, Policy

ROLE = "roles/iap.httpsResourceAccessor"
OTHER = "roles/iap.settingsAdmin"
COND = ("office", "", "request.host == 'a'")
ALICE, BOB, CAROL = "user:alice@example.com", "user:bob@example.com", "user:carol@example.com"


def policy(*bindings: Binding) -> Policy:
    return Policy(bindings=bindings, etag="BwX1", version=1)


def test_grant_adds_to_the_existing_binding_and_keeps_the_etag() -> None:
    before = policy(Binding(ROLE, frozenset({ALICE})), Binding(OTHER, frozenset({BOB})))

    after = iam.grant(before, ROLE, [BOB])

    assert after is not None
    assert after.bindings == (Binding(ROLE, frozenset({ALICE, BOB})), Binding(OTHER, frozenset({BOB})))
    assert after.etag == "BwX1"
    assert after.version == 1


def test_grant_of_present_members_changes_nothing() -> None:
    assert iam.grant(policy(Binding(ROLE, frozenset({ALICE}))), ROLE, [ALICE]) is None


def test_grant_under_a_condition_is_a_separate_binding_with_version_3() -> None:
    before = policy(Binding(ROLE, frozenset({ALICE})))

    after = iam.grant(before, ROLE, [ALICE], COND)

    assert after is not None
    assert after.bindings == (Binding(ROLE, frozenset({ALICE})), Binding(ROLE, frozenset({ALICE}), COND))
    assert after.version == 3
    assert iam.members_of(after, ROLE, COND) == {ALICE}
    assert iam.members_of(after, ROLE, None) == {ALICE}


def test_revoke_removes_only_the_members_of_that_role_and_condition() -> None:
    before = policy(
        Binding(ROLE, frozenset({ALICE, BOB})),
        Binding(ROLE, frozenset({ALICE}), COND),
        Binding(OTHER, frozenset({ALICE})),
    )

    after = iam.revoke(before, ROLE, [ALICE, CAROL])

    assert after is not None
    assert after.bindings == (
        Binding(ROLE, frozenset({BOB})),
        Binding(ROLE, frozenset({ALICE}), COND),
        Binding(OTHER, frozenset({ALICE})),
    )


def test_revoke_drops_an_emptied_binding() -> None:
    before = policy(Binding(ROLE, frozenset({ALICE}), COND), Binding(OTHER, frozenset({BOB})))

    after = iam.revoke(before, ROLE, [ALICE], COND)

    assert after is not None
    assert after.bindings == (Binding(OTHER, frozenset({BOB})),)


def test_revoke_of_absent_members_changes_nothing() -> None:
    assert iam.revoke(policy(Binding(ROLE, frozenset({ALICE}))), ROLE, [BOB]) is None
    assert iam.revoke(policy(Binding(ROLE, frozenset({ALICE}))), ROLE, [ALICE], COND) is None
