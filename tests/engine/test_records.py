"""Marks in IAM conditions and edits of a policy that touch only the owner's bindings."""

from __future__ import annotations

import pytest

from iap_operator.engine.marks import ALWAYS, DESCRIPTION_MAX, Mark, MarkKind, grant_condition, parse
from iap_operator.engine.records import Edit, apply, changes, granted
from iap_operator.engine.resources import Binding, Policy

OURS, OTHER = "0123456789abcdef", "fedcba9876543210"
ROLE = "roles/iap.httpsResourceAccessor"
ALICE, BOB, CAROL = "user:alice@example.com", "user:bob@example.com", "user:carol@example.com"


@pytest.mark.parametrize(
    "mark",
    [
        Mark(MarkKind.CLAIM, OURS, names="1a2b3c4d", text="prod/team-a/web"),
        Mark(MarkKind.RELEASED, OURS, names="1a2b3c4d", inherits=frozenset({OTHER}), all_users=True),
        Mark(MarkKind.GRANT, OURS, text="weekdays only; from the office"),
        Mark(MarkKind.GRANT, OURS),
    ],
)
def test_marks_read_back_as_written(mark: Mark) -> None:
    assert parse(("t", mark.description(), ALWAYS)) == mark


def test_a_long_description_is_cut_but_the_mark_survives() -> None:
    condition = grant_condition(OURS, ("hours", "x" * 256, "true"))
    assert len(condition[1]) == DESCRIPTION_MAX
    mark = parse(condition)
    assert mark is not None
    assert mark.owner == OURS
    assert mark.kind is MarkKind.GRANT


@pytest.mark.parametrize(
    "description",
    [
        "",
        "granted by hand",
        "see iap-operator:v1 grant owner=0123456789abcdef",
        "iap-operator:v1 grant owner=xyz",
    ],
)
def test_other_descriptions_are_not_marks(description: str) -> None:
    assert parse(("t", description, ALWAYS)) is None
    assert parse(None) is None


def test_apply_replaces_only_our_bindings() -> None:
    theirs = Binding(ROLE, frozenset({ALICE}))
    theirs_marked = Binding(ROLE, frozenset({BOB}), grant_condition(OTHER, None))
    old = Binding(ROLE, frozenset({ALICE, BOB}), grant_condition(OURS, None))
    policy = Policy((theirs, theirs_marked, old), etag="e1")
    new = Binding(ROLE, frozenset({CAROL}), grant_condition(OURS, None))

    edited = apply(policy, {OURS}, Edit((new,)))

    assert edited is not None
    assert set(edited.bindings) == {theirs, theirs_marked, new}
    assert edited.etag == "e1"
    assert edited.version == 3
    assert granted(edited, {OURS}, ROLE) == {CAROL}
    assert apply(edited, {OURS}, Edit((new,))) is None  # nothing to do: no write
    (change,) = changes(policy, edited, [ROLE])
    assert change.added == {CAROL}
    assert change.removed == set()  # Alice and Bob still hold the role through their own bindings


def test_migration_removes_plain_members_it_lists_and_nothing_else() -> None:
    plain = Binding(ROLE, frozenset({ALICE, BOB}))
    policy = Policy((plain,))
    ours = Binding(ROLE, frozenset({ALICE}), grant_condition(OURS, None))

    edited = apply(policy, {OURS}, Edit((ours,), remove_plain=frozenset({(ROLE, None, ALICE)})))

    assert edited is not None
    assert set(edited.bindings) == {Binding(ROLE, frozenset({BOB})), ours}
    assert changes(policy, edited, [ROLE]) == []  # Alice moved: she never lost access


def test_inherited_bindings_become_ours() -> None:
    inherited = Binding(ROLE, frozenset({ALICE}), grant_condition(OTHER, None))
    ours = Binding(ROLE, frozenset({ALICE}), grant_condition(OURS, None))

    edited = apply(Policy((inherited,)), {OURS, OTHER}, Edit((ours,)))

    assert edited is not None
    assert edited.bindings == (ours,)
