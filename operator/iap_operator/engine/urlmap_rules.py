"""A shared load balancer's URL map: each attached service owns one host rule and one path matcher.

Pure functions from the URL map as read (the compute `UrlMap` JSON, fingerprint included) and one
attachment to the URL map to write back (docs/shared-balancer.md). Nothing here reads or writes GCP: the
caller sends the result with the fingerprint it was computed from, so a concurrent edit by another
attachment makes GCP answer 412 `conditionNotMet`; the caller reads again and recomputes (no edit is
lost, because every edit is recomputed from the latest map).

What is ours is told by two facts together: the path matcher's deterministic name (from the owner's
lineage) and the owner mark in its description and in the host rule's description. A host rule or path
matcher without our mark is someone else's (the platform team's, another attached service's, a human's)
and survives every edit, in its place. A host claimed by someone else's host rule is a conflict: the
caller reports it and writes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
# HostRule.description / PathMatcher.description: "An optional description of this resource" (compute
# discovery document); the mark is what docs/ownership.md puts in every compute description.
MARK_PREFIX = "Managed by iap-operator for "


@dataclass(frozen=True)
class Attachment:
    """One attached service's share of the URL map."""

    owner_id: str  # engine.identity.Owner.id: 16 hex digits
    owner_text: str  # cluster/namespace/name, for humans reading the description
    matcher: str  # the path matcher's name: deterministic from the lineage, RFC 1035
    hosts: tuple[str, ...]
    service: str  # the backend service's URL (or partial URL)
    path_prefixes: tuple[str, ...] = ()  # empty: every path of the hosts

    @property
    def description(self) -> str:
        return f"{MARK_PREFIX}{self.owner_text} (owner {self.owner_id})."


@dataclass(frozen=True)
class Conflict:
    """A host of ours that someone else's host rule already serves."""

    host: str
    holder: str  # the other host rule's description (a mark names its owner), or its path matcher


def is_ours(item: Mapping[str, Any], owner_id: str) -> bool:
    """A host rule or path matcher whose description carries this owner's mark."""
    description = item.get("description")
    return (
        isinstance(description, str)
        and description.startswith(MARK_PREFIX)
        and (f"(owner {owner_id})" in description)
    )


def _mine(url_map: Mapping[str, Any], attachment: Attachment) -> tuple[set[str], set[int], set[int]]:
    """Our path matcher names, and the indexes of our host rules and path matchers."""
    matchers = list(url_map.get("pathMatchers") or [])
    ours = {
        i
        for i, matcher in enumerate(matchers)
        if matcher.get("name") == attachment.matcher and is_ours(matcher, attachment.owner_id)
    }
    names = {matchers[i]["name"] for i in ours}
    rules = {
        i
        for i, rule in enumerate(url_map.get("hostRules") or [])
        if rule.get("pathMatcher") in names and is_ours(rule, attachment.owner_id)
    }
    return names, rules, ours


def conflicts(url_map: Mapping[str, Any], attachment: Attachment) -> tuple[Conflict, ...]:
    """Hosts of the attachment that a host rule which is not ours already serves."""
    _, our_rules, _ = _mine(url_map, attachment)
    wanted = set(attachment.hosts)
    found: list[Conflict] = []
    for index, rule in enumerate(url_map.get("hostRules") or []):
        if index in our_rules:
            continue
        for host in rule.get("hosts") or []:
            if host in wanted:
                holder = rule.get("description") or f"path matcher {rule.get('pathMatcher')!r}"
                found.append(Conflict(host, str(holder)))
    return tuple(sorted(found, key=lambda c: c.host))


def matcher_taken(url_map: Mapping[str, Any], attachment: Attachment) -> bool:
    """A path matcher with our name but not our mark: someone else's (a ManagementConflict, no write)."""
    return any(
        m.get("name") == attachment.matcher and not is_ours(m, attachment.owner_id)
        for m in url_map.get("pathMatchers") or []
    )


def _paths(prefixes: Sequence[str]) -> list[str]:
    """`/app` serves `/app` and everything under it (`*` only at the end, after a `/`: PathRule)."""
    paths: list[str] = []
    for prefix in prefixes:
        base = prefix.rstrip("/")
        for path in [base, f"{base}/*"] if base else ["/*"]:
            if path not in paths:
                paths.append(path)
    return paths


def _default_of(url_map: Mapping[str, Any]) -> JSON:
    """What a path matcher with prefixes serves outside them: the URL map's own default."""
    for key in ("defaultService", "defaultUrlRedirect"):
        if url_map.get(key):
            return {key: copy.deepcopy(url_map[key])}
    return {}


def host_rule(attachment: Attachment) -> JSON:
    return {
        "description": attachment.description,
        "hosts": list(attachment.hosts),
        "pathMatcher": attachment.matcher,
    }


def path_matcher(url_map: Mapping[str, Any], attachment: Attachment) -> JSON:
    matcher: JSON = {"name": attachment.matcher, "description": attachment.description}
    if attachment.path_prefixes:
        matcher.update(_default_of(url_map))
        matcher["pathRules"] = [{"paths": _paths(attachment.path_prefixes), "service": attachment.service}]
    else:
        matcher["defaultService"] = attachment.service
    return matcher


def attached(url_map: Mapping[str, Any], attachment: Attachment) -> JSON:
    """The URL map with the attachment's host rule and path matcher as wanted; everyone else's untouched.

    Ours are replaced in place (same position), or appended when new. The fingerprint is the one read:
    the write is refused if anything changed the map since. Raises ValueError on a conflict (check
    `conflicts` first: the caller reports it and writes nothing).
    """
    if found := conflicts(url_map, attachment):
        raise ValueError(f"host {found[0].host!r} is already served by {found[0].holder}")
    if matcher_taken(url_map, attachment):
        raise ValueError(f"a path matcher named {attachment.matcher!r} is not ours")
    result = copy.deepcopy(dict(url_map))
    _, our_rules, our_matchers = _mine(url_map, attachment)
    rules = [r for i, r in enumerate(result.get("hostRules") or []) if i not in our_rules]
    matchers = [m for i, m in enumerate(result.get("pathMatchers") or []) if i not in our_matchers]
    rules.insert(min(our_rules, default=len(rules)), host_rule(attachment))
    matchers.insert(min(our_matchers, default=len(matchers)), path_matcher(url_map, attachment))
    result["hostRules"] = rules
    result["pathMatchers"] = matchers
    return result


def detached(url_map: Mapping[str, Any], attachment: Attachment) -> JSON:
    """The URL map without the attachment's host rule and path matcher (and nothing else removed)."""
    result = copy.deepcopy(dict(url_map))
    _, our_rules, our_matchers = _mine(url_map, attachment)
    result["hostRules"] = [r for i, r in enumerate(result.get("hostRules") or []) if i not in our_rules]
    result["pathMatchers"] = [
        m for i, m in enumerate(result.get("pathMatchers") or []) if i not in our_matchers
    ]
    return result


def up_to_date(url_map: Mapping[str, Any], attachment: Attachment) -> bool:
    """True when writing `attached` would change nothing (a second pass does no write)."""
    if conflicts(url_map, attachment) or matcher_taken(url_map, attachment):
        return False
    wanted = attached(url_map, attachment)
    return bool(_rules_of(wanted) == _rules_of(url_map))


_REFERENCES = frozenset({"service", "defaultService"})


def _normal(value: Any, key: str = "") -> Any:
    """References in any form (full URL of any API version, partial path) as `projects/...`: GCP stores
    the form it likes (the emulator keeps the recorded one), so equality must not depend on it."""
    if isinstance(value, dict):  # an empty field is an absent one (clients echo defaults: `pathRules: []`)
        return {k: _normal(v, k) for k, v in value.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if key in _REFERENCES and isinstance(value, str) and (index := value.find("projects/")) >= 0:
        return value[index:]
    return value


def _rules_of(url_map: Mapping[str, Any]) -> Any:
    return _normal([list(url_map.get("hostRules") or []), list(url_map.get("pathMatchers") or [])])


def patch_body(url_map: Mapping[str, Any]) -> JSON:
    """What `urlMaps.patch` gets: both lists whole (JSON merge patch replaces lists) and the fingerprint."""
    body: JSON = {
        "hostRules": list(url_map.get("hostRules") or []),
        "pathMatchers": list(url_map.get("pathMatchers") or []),
    }
    if url_map.get("fingerprint"):
        body["fingerprint"] = url_map["fingerprint"]
    return body


def attached_hosts(url_map: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Every host rule's hosts by its description (for the balancer's status: what is attached)."""
    return {
        str(rule.get("description") or rule.get("pathMatcher")): tuple(rule.get("hosts") or ())
        for rule in url_map.get("hostRules") or []
    }
