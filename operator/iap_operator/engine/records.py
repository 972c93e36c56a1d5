"""Our bindings in an IAM policy: read them back, and edit a policy so that they are exactly as wanted.

The record of what this owner granted is the policy itself: every binding the operator writes carries the
owner's mark (`engine.marks`), so the grant and its record are one atomic `setIamPolicy`. A crash at any
instant leaves either the old policy or the new one, and either way a later pass (or the teardown) finds
exactly this owner's members. Bindings without our mark are never changed, except for two explicit cases:
allUsers in the plain invoker binding (recorded in the claim, since IAM refuses conditions for it) and the
migration of grants an earlier operator version made (recorded in `status.grants` only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from iap_operator.engine.marks import ALWAYS, GRANT_TITLE, Mark, MarkKind, parse
from iap_operator.engine.resources import Binding, Policy

Condition = tuple[str, str, str] | None


def mark_of(binding: Binding, ids: Iterable[str]) -> Mark | None:
    """The binding's mark if it belongs to one of the owner ids `ids`."""
    mark = parse(binding.condition)
    return mark if mark is not None and mark.owner in set(ids) else None


def ours(policy: Policy, ids: Iterable[str]) -> list[tuple[Binding, Mark]]:
    wanted = set(ids)
    return [(b, m) for b in policy.bindings if (m := mark_of(b, wanted)) is not None]


def granted(policy: Policy, ids: Iterable[str], role: str) -> frozenset[str]:
    """The members our grant bindings give `role`."""
    return frozenset(
        member
        for binding, mark in ours(policy, ids)
        if mark.kind is MarkKind.GRANT and binding.role == role
        for member in binding.members
    )


def grant_of(policy: Policy, ids: Iterable[str], role: str) -> Binding | None:
    return next(
        (b for b, m in ours(policy, ids) if m.kind is MarkKind.GRANT and b.role == role),
        None,
    )


@dataclass(frozen=True)
class Edit:
    """What one owner wants on one policy."""

    want: tuple[Binding, ...]  # all of the owner's bindings after the edit (its old ones are replaced)
    add_plain: frozenset[tuple[str, str]] = frozenset()  # (role, member) into the plain binding
    remove_plain: frozenset[tuple[str, Condition, str]] = frozenset()  # (role, condition, member), unmarked


def apply(policy: Policy, ids: Iterable[str], edit: Edit) -> Policy | None:
    """`policy` with the owner's bindings replaced by `edit.want`; None when nothing changes."""
    owned = set(ids)
    kept: list[Binding] = []
    for binding in policy.bindings:
        if mark_of(binding, owned) is not None:
            continue
        gone = {m for r, c, m in edit.remove_plain if r == binding.role and c == binding.condition}
        kept.append(Binding(binding.role, binding.members - gone, binding.condition))
    for role, member in sorted(edit.add_plain):
        plain = next((i for i, b in enumerate(kept) if b.role == role and b.condition is None), None)
        if plain is None:
            kept.append(Binding(role, frozenset({member}), None))
        else:
            kept[plain] = Binding(role, kept[plain].members | {member}, None)
    bindings = tuple(b for b in [*kept, *edit.want] if b.members)
    if _normal(bindings) == _normal(tuple(b for b in policy.bindings if b.members)):
        return None
    version = 3 if any(b.condition for b in bindings) else policy.version
    return Policy(bindings=bindings, etag=policy.etag, version=version)


def _normal(bindings: tuple[Binding, ...]) -> Counter[tuple[str, frozenset[str], Condition]]:
    return Counter((b.role, b.members, b.condition) for b in bindings)


@dataclass(frozen=True)
class Change:
    """Who gained or lost a role through an edit (for Events)."""

    role: str
    added: frozenset[str]
    removed: frozenset[str]


def changes(before: Policy, after: Policy, roles: Iterable[str]) -> list[Change]:
    """Member changes per role, whatever binding they are in, ignoring claims (which grant nothing)."""
    found = []
    for role in roles:
        old, new = _effective(before, role), _effective(after, role)
        if old != new:
            found.append(Change(role, frozenset(new - old), frozenset(old - new)))
    return found


def _effective(policy: Policy, role: str) -> set[str]:
    members: set[str] = set()
    for binding in policy.bindings:
        mark = parse(binding.condition)
        if binding.role == role and (mark is None or mark.kind is MarkKind.GRANT):
            members |= {f"{m}{_condition_note(binding.condition)}" for m in binding.members}
    return members


def _condition_note(condition: Condition) -> str:
    """How a member's grant is qualified: nothing when it always holds (plain, or our `ALWAYS` grant)."""
    if condition is None or (condition[0] == GRANT_TITLE and condition[2] == ALWAYS):
        return ""
    return f" (condition {condition[0]!r})"
