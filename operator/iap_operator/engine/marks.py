"""Ownership marks inside IAM policies: the condition of every binding the operator writes says whose it is.

A binding's condition has a title, a description and an expression. The operator's bindings carry

    iap-operator:v1 <kind> owner=<owner id>[ names=<lineage>][ inherits=<id>,...][ all-users][; <text>]

at the start of the description, where kind is `claim` (the one holder of a target), `released` (a claim
given up by `deletionPolicy: Abandon`, which an heir may adopt) or `grant` (members this owner granted).
Claims grant nothing (their expression is never true); grants use the user's access condition, or one
that always holds. Nothing else is ever needed to tell our bindings from anyone else's.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# IAM allows conditions only where the resource type accepts them (Cloud Run services, IAP web services,
# backend services all do) and never with allUsers / allAuthenticatedUsers (docs/ownership.md).
ALWAYS = 'request.time >= timestamp("1970-01-01T00:00:00Z")'
NEVER = 'request.time < timestamp("1970-01-01T00:00:00Z")'
CLAIM_TITLE = "iap-operator claim"
GRANT_TITLE = "iap-operator grant"
DESCRIPTION_MAX = 256  # what the CRD allows for a user's condition description, and IAM's limit
_PREFIX = "iap-operator:v1"
_MARK = re.compile(
    r"iap-operator:v1 (?P<kind>claim|released|grant) owner=(?P<owner>[0-9a-f]{16})"
    r"(?P<fields>(?: [a-z-]+(?:=[^ ;]*)?)*)(?:; (?P<text>.*))?",
    re.DOTALL,
)

Condition = tuple[str, str, str]  # (title, description, expression), as in `resources.Binding`


class MarkKind(enum.StrEnum):
    CLAIM = "claim"
    RELEASED = "released"
    GRANT = "grant"


@dataclass(frozen=True)
class Mark:
    kind: MarkKind
    owner: str  # the owner id (engine.identity.Owner.id)
    names: str | None = None  # claims: the lineage hash resources are named with
    inherits: frozenset[str] = frozenset()  # claims: owner ids (legacy uids) whose marks are the owner's
    all_users: bool = False  # claims on Cloud Run: the owner added allUsers to the plain invoker binding
    text: str = ""  # claims: the owner's readable `cluster/namespace/name`; grants: the user's description

    def description(self) -> str:
        fields = [f"{_PREFIX} {self.kind} owner={self.owner}"]
        if self.names:
            fields.append(f"names={self.names}")
        if self.inherits:
            fields.append(f"inherits={','.join(sorted(self.inherits))}")
        if self.all_users:
            fields.append("all-users")
        head = " ".join(fields)
        return (f"{head}; {self.text}" if self.text else head)[:DESCRIPTION_MAX]


def parse(condition: Condition | None) -> Mark | None:
    """The mark in a binding's condition, or None for a binding that is not the operator's."""
    if condition is None:
        return None
    found = _MARK.fullmatch(condition[1])
    if found is None:
        return None
    fields: dict[str, str] = {}
    for item in found["fields"].split():
        key, _, value = item.partition("=")
        fields[key] = value
    return Mark(
        kind=MarkKind(found["kind"]),
        owner=found["owner"],
        names=fields.get("names") or None,
        inherits=frozenset(i for i in fields.get("inherits", "").split(",") if i),
        all_users="all-users" in fields,
        text=found["text"] or "",
    )


def claim_condition(mark: Mark) -> Condition:
    return (CLAIM_TITLE, mark.description(), NEVER)


def grant_condition(owner: str, user: Condition | None) -> Condition:
    """The condition of a grant: the user's title and expression (or ones that always hold), our mark."""
    if user is None:
        return (GRANT_TITLE, Mark(MarkKind.GRANT, owner).description(), ALWAYS)
    title, description, expression = user
    return (title, Mark(MarkKind.GRANT, owner, text=description).description(), expression)


def user_condition(condition: Condition | None) -> Condition | None:
    """What the user wrote, from one of our grant conditions (for status)."""
    mark = parse(condition)
    if condition is None or mark is None or (condition[0] == GRANT_TITLE and condition[2] == ALWAYS):
        return None
    return (condition[0], mark.text, condition[2])
