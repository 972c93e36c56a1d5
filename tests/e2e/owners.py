"""How the operator names and marks what it builds for an object (its stable identity, not its uid)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iap_operator.engine.identity import DEFAULT_CLUSTER, Owner, Ownership


def ownership_of(obj: Mapping[str, Any], cluster: str = DEFAULT_CLUSTER) -> Ownership:
    """The fresh ownership of `obj` (a manifest or a stored object) in cluster `cluster`."""
    meta = obj["metadata"]
    return Ownership.fresh(Owner(cluster, meta.get("namespace") or "default", meta["name"]))
