"""The shared IAM policy store: getIamPolicy / setIamPolicy / testIamPermissions for every API.

Policies are stored in the world's `Store` under `"<resource API path>:iamPolicy"` so `GET state` shows them.
As recorded (iam__iampartialpolicy__iam-serviceidentityref): a resource that never had a policy answers
only `{"etag": "ACAB"}` (no version, no bindings); a set answers the policy as stored with `version` 1
whatever version was sent, unless a binding has a condition (then 3: Google's "Policy versions" page);
a policy emptied of bindings reads `{"etag", "version": 1}`; etags are base64 and change on every write.
Not recorded, from Google's IAM documentation: a set with a stale etag answers 409 ABORTED, one without
an etag overwrites; reading a conditional policy with a requested version below 3 yields the
`_withcond_` role names; malformed members answer 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from .core import JSON, GoogleError, Project, Store, aborted, new_fingerprint

EMPTY_ETAG = "ACAB"
_EMAIL = r"[^@\s:]+@[^@\s:]+\.[^@\s:]+"
_MEMBER_RE = re.compile(
    rf"allUsers|allAuthenticatedUsers"
    rf"|(user|serviceAccount|group):{_EMAIL}"
    rf"|deleted:(user|serviceAccount|group):{_EMAIL}\?uid=\d+"
    rf"|domain:[a-z0-9.-]+\.[a-z]+"
    rf"|(projectOwner|projectEditor|projectViewer):[a-z0-9-]+"
    rf"|principal(Set)?://\S+"
)
_ROLE_RE = re.compile(r"roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+")
CONCURRENT_CHANGE = (
    "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."
)


def _bad_request(message: str) -> GoogleError:
    return GoogleError(400, message, status="INVALID_ARGUMENT", reason="badRequest")


def policy_key(resource_path: str) -> str:
    return f"{resource_path}:iamPolicy"


def _normalize_bindings(bindings: Iterable[Any]) -> list[JSON]:
    """Validate, merge bindings with equal role+condition, drop duplicates and empty bindings."""
    merged: dict[str, JSON] = {}
    for binding in bindings:
        if not isinstance(binding, dict):
            raise _bad_request("Invalid binding: expected an object.")
        role = binding.get("role", "")
        if not isinstance(role, str) or not _ROLE_RE.fullmatch(role):
            raise _bad_request(f"Role {role!r} is not valid.")
        members = binding.get("members") or []
        for member in members:
            if not isinstance(member, str) or not _MEMBER_RE.fullmatch(member):
                raise _bad_request(f"Invalid member '{member}' in policy binding for role {role}.")
        condition = binding.get("condition")
        if condition and {"allUsers", "allAuthenticatedUsers"} & set(members):
            # IAM Conditions overview: no conditions on role grants to allUsers / allAuthenticatedUsers.
            raise _bad_request(
                f"Conditions are not supported for allUsers or allAuthenticatedUsers ({role})."
            )
        key = role + "|" + (repr(sorted(condition.items())) if isinstance(condition, dict) else "")
        entry = merged.setdefault(key, {"role": role, "members": []})
        if condition:
            entry["condition"] = copy.deepcopy(condition)
        for member in members:
            if member not in entry["members"]:
                entry["members"].append(member)
    return [b for b in merged.values() if b["members"]]


def _downgrade(policy: JSON) -> JSON:
    """A conditional policy read with requestedPolicyVersion < 3: GCP renames conditional roles."""
    result = copy.deepcopy(policy)
    result["version"] = 1
    for binding in result.get("bindings", []):
        condition = binding.pop("condition", None)
        if condition:
            digest = hashlib.sha256(repr(sorted(condition.items())).encode()).hexdigest()[:20]
            binding["role"] = f"{binding['role']}_withcond_{digest}"
    return result


class IamPolicies:
    """getIamPolicy/setIamPolicy semantics over the shared store (one policy per resource path)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, resource_path: str, requested_version: int | None = None) -> JSON:
        policy = self._store.get(policy_key(resource_path))
        if policy is None:
            return {"etag": EMPTY_ETAG}
        has_conditions = any("condition" in b for b in policy.get("bindings", []))
        if has_conditions and (requested_version or 1) < 3:
            return _downgrade(policy)
        return policy

    def set(self, resource_path: str, policy: JSON, update_mask: str | None = None) -> JSON:
        """Store `policy` for the resource (etag-checked) and return it as stored, with its new etag."""
        if not isinstance(policy, dict):
            raise _bad_request("Invalid policy: expected an object.")
        current = self._store.get(policy_key(resource_path))
        current_etag = current["etag"] if current else EMPTY_ETAG
        given_etag = policy.get("etag")
        if given_etag and given_etag != current_etag:
            raise aborted(CONCURRENT_CHANGE)
        bindings = _normalize_bindings(policy.get("bindings") or [])
        version = int(policy.get("version") or 1)
        if version not in (0, 1, 3):
            raise _bad_request(f"Invalid policy version {version}.")
        has_conditions = any("condition" in b for b in bindings)
        if has_conditions and version < 3:
            raise _bad_request("Policies with conditional role bindings must specify version 3.")
        fields = {f.strip() for f in (update_mask or "bindings,etag").split(",") if f.strip()}
        stored: JSON = {"version": 3 if has_conditions else 1}
        stored["bindings"] = bindings if "bindings" in fields else (current or {}).get("bindings", [])
        audit = (
            policy.get("auditConfigs") if "auditConfigs" in fields else (current or {}).get("auditConfigs")
        )
        if audit:
            stored["auditConfigs"] = copy.deepcopy(audit)
        if not stored["bindings"]:
            del stored["bindings"]
        stored["etag"] = new_fingerprint()
        self.put_raw(resource_path, stored)
        return copy.deepcopy(stored)

    def put_raw(self, resource_path: str, policy: JSON) -> None:
        """Store a policy without checks (seed, out-of-band mutate); gives it an etag if it has none."""
        stored = copy.deepcopy(policy)
        stored.setdefault("version", 1)
        stored.setdefault("etag", new_fingerprint())
        self._store.put(policy_key(resource_path), stored)

    def delete(self, resource_path: str) -> None:
        """Drop the policy with its resource (GCP forgets bindings of a deleted resource)."""
        self._store.delete(policy_key(resource_path))

    @staticmethod
    def test_permissions(project: Project, permissions: Iterable[str]) -> list[str]:
        """The subset of `permissions` the caller holds: the project's seeded set, or all by default."""
        asked = list(dict.fromkeys(permissions))
        if project.permissions is None:
            return asked
        return [p for p in asked if p in project.permissions]
