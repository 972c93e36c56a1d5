"""Who a reconcile acts for, deterministic GCP names derived from it, and ownership marks."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from iap_operator.engine.resources import Marks

MANAGED_BY_LABEL = "managed-by"
MANAGED_BY_VALUE = "iap-operator"
OWNER_LABEL = "iap-operator-owner"
_MAX_NAME = 63


@dataclass(frozen=True)
class Identity:
    namespace: str
    name: str
    uid: str
    generation: int = 1

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def resource_name(self, suffix: str) -> str:
        """`iaps-<ns>-<name>-<hash>-<suffix>`, RFC 1035 and at most 63 characters.

        The hash of the uid keeps names unique when namespace/name are truncated, and distinguishes a
        re-created object from its predecessor.
        """
        digest = hashlib.sha256(self.uid.encode()).hexdigest()[:8]
        tail = f"-{digest}-{suffix}"
        base = re.sub(r"[^a-z0-9-]+", "-", f"iaps-{self.namespace}-{self.name}".lower())
        base = base[: _MAX_NAME - len(tail)].rstrip("-")
        return f"{base}{tail}"

    def marks(self) -> Marks:
        return Marks(
            description=f"Managed by iap-operator for {self.ref} (owner {self.uid}).",
            labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE, OWNER_LABEL: self.uid},
        )

    def owns(self, marks: Marks) -> bool:
        return marks.labels.get(OWNER_LABEL) == self.uid or f"(owner {self.uid})" in marks.description

    def released(self, marks: Marks) -> Marks:
        """The marks with ours removed (Abandon)."""
        ours = {MANAGED_BY_LABEL, OWNER_LABEL}
        description = marks.description.replace(self.marks().description, "").strip()
        return Marks(description=description, labels={k: v for k, v in marks.labels.items() if k not in ours})
