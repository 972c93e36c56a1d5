"""Server-owned object metadata: uid, timestamps, generation, generateName, terminating state."""

from __future__ import annotations

import datetime
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

# The fields a client cannot change by writing the object (kube-apiserver restores them).
SYSTEM_FIELDS = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "namespace",
    "name",
)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the same alphabet the apiserver uses


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def finalizers(obj: Mapping[str, Any]) -> list[str]:
    return list(meta(obj).get("finalizers") or [])


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def resource_version(obj: Mapping[str, Any]) -> str | None:
    value = meta(obj).get("resourceVersion")
    return str(value) if value not in (None, "") else None


def content(obj: Mapping[str, Any], *, without_status: bool) -> dict[str, Any]:
    """What `metadata.generation` tracks: everything but metadata (and status, with a status subresource)."""
    skipped = {"metadata", "status"} if without_status else {"metadata"}
    return {key: value for key, value in obj.items() if key not in skipped}
