"""What this owner wants on each IAM policy it touches: its claim and its grants (as `records.Edit`s).

Pure: each plan looks at the policy as read (again after an etag conflict) and says what our bindings
must be. A claim someone else took in the meantime is refused there, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from iap_operator.engine import claims, iam
from iap_operator.engine.desired import ACCESSOR_ROLE, INVOKER_ROLE
from iap_operator.engine.identity import Identity, Ownership
from iap_operator.engine.marks import MarkKind, grant_condition
from iap_operator.engine.records import Edit, granted, ours
from iap_operator.engine.resources import Binding, Policy

ALL_USERS = "allUsers"
Condition = tuple[str, str, str] | None
Plan = Callable[[Policy], Edit]


@dataclass(frozen=True)
class Claimer:
    """Who claims (and what to say when someone else holds the target)."""

    identity: Identity
    ownership: Ownership
    poll_after: float

    def check(self, policy: Policy, target: str) -> claims.Standing:
        standing = claims.standing(policy, self.ownership.owner.id)
        if standing.holder is not None:
            raise claims.conflict(target, standing.holder, self.identity, self.poll_after)
        return standing


def invoker(
    claimer: Claimer, target: str, agent: str, *, all_users: bool, legacy: frozenset[str] = frozenset()
) -> Plan:
    """The Cloud Run service's policy: our claim, and run.invoker for the IAP service agent (or allUsers).

    allUsers cannot be in a conditional binding, so it goes to the plain binding, and the claim records
    that we added it (`all-users`); members an earlier version granted (`legacy`) move into our binding.
    """
    ownership = claimer.ownership

    def plan(policy: Policy) -> Edit:
        standing = claimer.check(policy, target)
        had_all = standing.ours is not None and standing.ours.mark.all_users
        plain = iam.members_of(policy, INVOKER_ROLE, None)
        add: set[str] = set()
        remove = set(legacy)
        if all_users:
            ours_all = had_all or ALL_USERS in legacy or ALL_USERS not in plain
            remove.discard(ALL_USERS)
            if ALL_USERS not in plain:
                add.add(ALL_USERS)
        else:
            ours_all = False
            if had_all:
                remove.add(ALL_USERS)
        want = [claims.claim_binding(INVOKER_ROLE, agent, ownership, all_users=ours_all)]
        if not all_users:
            member = frozenset({f"serviceAccount:{agent}"})
            want.append(Binding(INVOKER_ROLE, member, grant_condition(ownership.owner.id, None)))
        return Edit(
            tuple(want),
            add_plain=frozenset((INVOKER_ROLE, m) for m in add),
            remove_plain=frozenset((INVOKER_ROLE, None, m) for m in remove),
        )

    return plan


def access(
    claimer: Claimer,
    target: str,
    members: frozenset[str],
    condition: Condition,
    *,
    claim_agent: str | None = None,
    legacy: frozenset[str] = frozenset(),
    legacy_condition: Condition = None,
) -> Plan:
    """An IAP policy: our grant of httpsResourceAccessor to `members` (under the user's `condition`), and
    in attach mode (`claim_agent`) our claim on the backend service, which is not ours."""
    ownership = claimer.ownership

    def plan(policy: Policy) -> Edit:
        if claim_agent is not None:
            claimer.check(policy, target)
        want = []
        if members:
            want.append(Binding(ACCESSOR_ROLE, members, grant_condition(ownership.owner.id, condition)))
        if claim_agent is not None:
            want.append(claims.claim_binding(ACCESSOR_ROLE, claim_agent, ownership))
        return Edit(
            tuple(want),
            remove_plain=frozenset((ACCESSOR_ROLE, legacy_condition, m) for m in legacy),
        )

    return plan


def revoke(*, legacy: frozenset[tuple[str, Condition, str]] = frozenset(), all_users: bool = False) -> Plan:
    """Teardown: none of our bindings stay; nor what an earlier version granted, nor allUsers we added."""
    extra = {(INVOKER_ROLE, None, ALL_USERS)} if all_users else set()
    return lambda _policy: Edit((), remove_plain=frozenset(legacy | extra))


def revoke_invoker(owner: str) -> Plan:
    """Our claim and invoker grant on a Cloud Run service go, and allUsers if our claim says we added it
    (a region of `cloudRun.regions` removed, or teardown of a region after the first)."""

    def edit(policy: Policy) -> Edit:
        standing = claims.standing(policy, owner).ours
        return revoke(all_users=standing is not None and standing.mark.all_users)(policy)

    return edit


def release(ownership: Ownership) -> Plan:
    """Abandon: our claims become released ones (an heir may adopt them); our grants stay as they are."""

    def plan(policy: Policy) -> Edit:
        want = [
            claims.released_binding(claims.Claim(binding, mark)) if mark.kind is MarkKind.CLAIM else binding
            for binding, mark in ours(policy, ownership.ids)
        ]
        return Edit(tuple(want))

    return plan


def invoker_members(policy: Policy, ownership: Ownership) -> frozenset[str]:
    """What our grants (and our claim's allUsers) give run.invoker: for status."""
    standing = claims.standing(policy, ownership.owner.id)
    flagged = {ALL_USERS} if standing.ours is not None and standing.ours.mark.all_users else set()
    return granted(policy, ownership.ids, INVOKER_ROLE) | flagged


def access_members(policy: Policy, ownership: Ownership) -> frozenset[str]:
    return granted(policy, ownership.ids, ACCESSOR_ROLE)
