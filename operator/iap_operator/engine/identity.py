"""Who a reconcile acts for, and the stable ownership derived from it (docs/ownership.md).

- `Identity` is the Kubernetes object: namespace, name, uid, generation (and an explicit adoption request).
- `Owner` is what GCP knows the object by: the operator-wide cluster name plus namespace and name, so a
  rebuilt cluster, a restored namespace or a re-created object is the same owner; never the uid.
- `Lineage` is what the owner's resources are named and marked after: its own (`fresh`), those of an
  object of an earlier operator version (`legacy`, uid-derived), or those it adopted from another owner.
  The lineage is recorded on GCP in the owner's claim (`engine.claims`).
- `Ownership` = owner + lineage: deterministic GCP names and the marks that say "ours".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from iap_operator.engine.resources import Marks

MANAGED_BY_LABEL = "managed-by"
MANAGED_BY_VALUE = "iap-operator"
OWNER_LABEL = "iap-operator-owner"
DEFAULT_CLUSTER = "default"
CLUSTER_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")  # an RFC 1123 label of at most 40
ADOPT_ANNOTATION = "iap-operator.dev/adopt-from"
_MAX_NAME = 63


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _base(namespace: str, name: str, suffix: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", f"iaps-{namespace}-{name}".lower())
    return base[: _MAX_NAME - len(f"-xxxxxxxx-{suffix}")].rstrip("-")


def _name(namespace: str, name: str, lineage: str, suffix: str) -> str:
    return f"{_base(namespace, name, suffix)}-{lineage}-{suffix}"


def name_pattern(namespace: str, name: str, suffix: str) -> str:
    """An RE2 pattern for `suffix`'s name in any lineage of `namespace/name` (earlier versions' too)."""
    return f"{_base(namespace, name, suffix)}-[0-9a-f]{{8}}-{suffix}"


@dataclass(frozen=True)
class Identity:
    """The IapProtectedService object a pass acts for."""

    namespace: str
    name: str
    uid: str
    generation: int = 1
    adopt_from: str | None = None  # the ADOPT_ANNOTATION: a cluster name, `cluster/ns/name` or `uid:UID`

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Owner:
    """The stable identity ownership marks carry: cluster name + namespace + name."""

    cluster: str
    namespace: str
    name: str

    @classmethod
    def of(cls, cluster: str, identity: Identity) -> Owner:
        return cls(cluster, identity.namespace, identity.name)

    @property
    def ref(self) -> str:
        return f"{self.cluster}/{self.namespace}/{self.name}"

    @property
    def id(self) -> str:
        """16 hex digits: fits a label value, and identifies the owner in IAM condition descriptions."""
        return _digest(self.ref, 16)


@dataclass(frozen=True)
class Lineage:
    """What GCP resources of an owner are named after (`names`) and which other marks count as its own."""

    names: str  # 8 hex digits in every resource name
    inherits: frozenset[str] = frozenset()  # owner ids (or legacy uids) whose marks are this owner's too

    @classmethod
    def fresh(cls, owner: Owner) -> Lineage:
        return cls(_digest(owner.ref, 8))

    @classmethod
    def legacy(cls, uid: str) -> Lineage:
        """Resources made by operator versions that named and marked them after the object's uid."""
        return cls(_digest(uid, 8), frozenset({uid}))

    def adopted_by(self, previous_owner: str) -> Lineage:
        """This lineage, handed over by `previous_owner` (an owner id): its marks become the heir's."""
        return Lineage(self.names, self.inherits | {previous_owner})


@dataclass(frozen=True)
class Ownership:
    owner: Owner
    lineage: Lineage

    @classmethod
    def fresh(cls, owner: Owner) -> Ownership:
        return cls(owner, Lineage.fresh(owner))

    @property
    def ids(self) -> frozenset[str]:
        """Every owner id whose marks are ours: our own and the inherited ones."""
        return self.lineage.inherits | {self.owner.id}

    def resource_name(self, suffix: str) -> str:
        """`iaps-<ns>-<name>-<lineage>-<suffix>`, RFC 1035 and at most 63 characters.

        The lineage hash keeps names unique when namespace/name are truncated and tells owners (clusters)
        apart; an adopted lineage keeps the names, so the resources (address, certificate) stay.
        """
        return _name(self.owner.namespace, self.owner.name, self.lineage.names, suffix)

    def name_pattern(self) -> str:
        """An RE2 pattern matching every name `resource_name` can give (for listing what may be ours)."""
        return f"iaps-[a-z0-9-]*-{self.lineage.names}-[a-z0-9-]+"

    def marks(self) -> Marks:
        return Marks(
            description=f"Managed by iap-operator for {self.owner.ref} (owner {self.owner.id}).",
            labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE, OWNER_LABEL: self.owner.id},
        )

    def owns(self, marks: Marks) -> bool:
        """Marked as ours: managed for one of our ids, or released by one of them (Abandon)."""
        found = _OWNER_MARK.findall(marks.description)
        return marks.labels.get(OWNER_LABEL) in self.ids or any(who in self.ids for who in found)

    def manages(self, marks: Marks) -> bool:
        """Marked as managed (not released) for one of our ids: by its labels or its description."""
        managed = [found["who"] for found in _MANAGED_TEXT.finditer(marks.description)]
        return marks.labels.get(OWNER_LABEL) in self.ids or any(who in self.ids for who in managed)

    def remarked(self, marks: Marks) -> Marks:
        """`marks` as ours: our description and labels in place of inherited, released or stripped ones
        (everything else kept)."""
        labels = {k: v for k, v in marks.labels.items() if k not in {MANAGED_BY_LABEL, OWNER_LABEL}}
        rest = _MARK_TEXT.sub("", marks.description).strip()
        ours = self.marks()
        description = f"{rest} {ours.description}".strip() if rest else ours.description
        return Marks(description, {**labels, **ours.labels})

    def released(self, marks: Marks) -> Marks:
        """The marks with ours removed (Abandon), the description saying whose they were."""
        ours = {MANAGED_BY_LABEL, OWNER_LABEL}

        def note(found: re.Match[str]) -> str:
            ref, who = found["ref"], found["who"]
            return f"Released by iap-operator (was for {ref}, owner {who})." if who in self.ids else found[0]

        description = _MANAGED_TEXT.sub(note, marks.description).strip()
        return Marks(description=description, labels={k: v for k, v in marks.labels.items() if k not in ours})


_MANAGED_TEXT = re.compile(r"Managed by iap-operator for (?P<ref>\S+) \(owner (?P<who>[^)\s]+)\)\.")
_MARK_TEXT = re.compile(
    r"(?:Managed by iap-operator for \S+ \(owner [^)\s]+\)"
    r"|Released by iap-operator \(was for \S+, owner [^)\s]+\))\."
)
_OWNER_MARK = re.compile(r"[(,] ?owner ([^)\s]+)\)")
