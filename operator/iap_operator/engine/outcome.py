"""What a pass remembers from the last status, and what it reports back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iap_operator.engine.conditions import Condition
from iap_operator.engine.errors import CloudError
from iap_operator.engine.resources import Key, Kind


@dataclass(frozen=True)
class Memory:
    """What the last status says. Only hints: correctness never depends on it (docs/ownership.md).

    Everything the operator needs to delete, revoke and prune is on GCP (claims, marked bindings, names
    and marks of resources). Status saves reads (the service agent, what was created) and carries the one
    thing earlier versions kept nowhere else: the grants of a status written without `owner` (`legacy`).
    """

    generation: int | None = None
    ready: bool = False
    protected: bool = False
    service_agent: str | None = None
    owner: str | None = None  # status.owner: written by versions that record grants on GCP
    granted_invoker: frozenset[str] = frozenset()
    granted_access: frozenset[str] = frozenset()
    access_condition: tuple[str, str, str] | None = None
    created: frozenset[Key] = frozenset()  # what earlier passes created (status.resources)

    @property
    def legacy(self) -> bool:
        """A status an earlier version wrote: its grants are unmarked plain bindings, listed only here."""
        return self.owner is None and bool(self.granted_invoker or self.granted_access or self.created)

    @property
    def legacy_invoker(self) -> frozenset[str]:
        return self.granted_invoker if self.legacy else frozenset()

    @property
    def legacy_access(self) -> frozenset[str]:
        return self.granted_access if self.legacy else frozenset()

    def trusted(self, generation: int) -> bool:
        """The last pass finished `generation` Ready: `created` is complete (no need to list GCP)."""
        return self.ready and self.generation == generation

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> Memory:
        status = status or {}
        grants = status.get("grants") or {}
        cond = grants.get("accessCondition")
        true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        return cls(
            generation=status.get("observedGeneration"),
            ready="Ready" in true,
            protected="Protected" in true,
            service_agent=status.get("serviceAgent"),
            owner=status.get("owner"),
            granted_invoker=frozenset(grants.get("invoker") or ()),
            granted_access=frozenset(grants.get("access") or ()),
            access_condition=(cond["title"], cond.get("description", ""), cond["expression"])
            if cond
            else None,
            created=frozenset(
                key
                for record in status.get("resources") or []
                if record.get("created") and (key := _key(record)) is not None
            ),
        )


def resource_record(key: Key) -> dict[str, Any]:
    """A `status.resources` entry for something this resource created."""
    return {"kind": str(key.kind), "name": key.name, "scope": key.scope, "created": True}


def _key(record: Mapping[str, Any]) -> Key | None:
    if record.get("kind") not in set(Kind) or not record.get("name"):
        return None
    scope = record.get("scope") or "global"
    return Key(Kind(record["kind"]), str(record["name"]), None if scope == "global" else scope)


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    warning: bool = False
    kind: str = ""  # what changed, for metrics: a compute kind, "CloudRunIngress", "IamPolicy/...", ...


@dataclass
class Outcome:
    conditions: list[Condition]
    status: dict[str, Any] = field(default_factory=dict)  # outputs and memory, camelCase as in the CRD
    events: list[Event] = field(default_factory=list)
    poll_after: float | None = None  # waiting for GCP (certificate, a missing dependency): look again later
    error: CloudError | None = None  # a transient failure: retry with backoff
    stalled: bool = False  # permanent: nothing to do until the spec (or the cloud) changes

    @property
    def ready(self) -> bool:
        return any(c.type == "Ready" and c.status for c in self.conditions)


@dataclass
class TeardownOutcome:
    done: bool
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error: CloudError | None = None
