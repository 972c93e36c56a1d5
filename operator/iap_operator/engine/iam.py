"""Pure edits of IAM policies: add or remove our members in one role, never touching other bindings."""

from __future__ import annotations

from collections.abc import Iterable

from iap_operator.engine.resources import Binding, Policy

Condition = tuple[str, str, str] | None


def members_of(policy: Policy, role: str, condition: Condition) -> frozenset[str]:
    found: set[str] = set()
    for binding in policy.bindings:
        if binding.role == role and binding.condition == condition:
            found |= binding.members
    return frozenset(found)


def grant(policy: Policy, role: str, members: Iterable[str], condition: Condition = None) -> Policy | None:
    """The policy with `members` in `role` (under `condition`), or None when nothing changes."""
    missing = frozenset(members) - members_of(policy, role, condition)
    if not missing:
        return None
    bindings = list(policy.bindings)
    for i, binding in enumerate(bindings):
        if binding.role == role and binding.condition == condition:
            bindings[i] = Binding(role, binding.members | missing, condition)
            break
    else:
        bindings.append(Binding(role, missing, condition))
    return _with(policy, bindings)


def revoke(policy: Policy, role: str, members: Iterable[str], condition: Condition = None) -> Policy | None:
    """The policy without `members` in `role` (under `condition`), or None when nothing changes."""
    gone = frozenset(members) & members_of(policy, role, condition)
    if not gone:
        return None
    bindings = []
    for binding in policy.bindings:
        if binding.role == role and binding.condition == condition:
            remaining = binding.members - gone
            if remaining:
                bindings.append(Binding(role, remaining, condition))
            continue
        bindings.append(binding)
    return _with(policy, bindings)


def _with(policy: Policy, bindings: list[Binding]) -> Policy:
    version = 3 if any(b.condition for b in bindings) else policy.version
    return Policy(bindings=tuple(bindings), etag=policy.etag, version=version)
