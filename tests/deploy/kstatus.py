"""kstatus, the status model Flux (and kpt, cli-utils) reads from custom resources.

`kstatus(obj)` computes what Flux's health checks see, after sigs.k8s.io/cli-utils
pkg/kstatus/status (generic rules) plus the Ready rule Flux adds. `kstatus_violations(obj)` lists
where a status breaks the conventions those rules rely on. Reusable with statuses from the operator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

IN_PROGRESS, FAILED, CURRENT, TERMINATING = "InProgress", "Failed", "Current", "Terminating"

# Ready reasons with which the operator stops retrying: they must come with Stalled=True, or Flux
# waits for its timeout. (NotFound is not one: the operator keeps checking for the missing object.)
STALLING_REASONS = frozenset(
    {"InvalidSpec", "PermissionDenied", "ManagementConflict", "OAuthClientChangeRefused"}
)
# Abnormal-true conditions: True means something is off; normal is False or absent.
ABNORMAL_TRUE = ("Reconciling", "Stalled")
_STATUSES = frozenset({"True", "False", "Unknown"})
_CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def _conditions(obj: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return (obj.get("status") or {}).get("conditions") or []


def _condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in _conditions(obj) if c.get("type") == type_), None)


def kstatus(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(status, message): InProgress, Failed, Current or Terminating."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return TERMINATING, "Resource scheduled for deletion"
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    # As cli-utils: the check is skipped when either field is absent.
    if generation is not None and observed is not None and observed != generation:
        kind = obj.get("kind", "Resource")
        return IN_PROGRESS, f"{kind} generation is {generation}, but latest observed generation is {observed}"
    for condition in _conditions(obj):
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return IN_PROGRESS, condition.get("message", "")
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return FAILED, condition.get("message", "")
    ready = _condition(obj, "Ready")
    if ready is not None and ready.get("status") != "True":
        return IN_PROGRESS, ready.get("message", "")
    if ready is not None:
        return CURRENT, ready.get("message", "")
    # No standard condition at all: kstatus assumes the resource is current.
    return CURRENT, "Resource is current"


SUMMARY = frozenset({"Ready", "Reconciling", "Stalled"})


def kstatus_violations(obj: Mapping[str, Any]) -> list[str]:
    """Ways the status breaks the conventions kstatus (and Argo CD's health.lua) depend on."""
    status = obj.get("status")
    if not status:
        return []  # nothing written yet
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    problems: list[str] = []
    if observed is None:
        problems.append("status.observedGeneration is missing: a stale status would look current")
    elif generation is not None and observed > generation:
        problems.append(f"status.observedGeneration {observed} is ahead of metadata.generation {generation}")

    seen: set[str] = set()
    for condition in _conditions(obj):
        type_ = condition.get("type", "?")
        where = f"condition {type_}"
        if type_ in seen:
            problems.append(f"{where} appears twice")
        seen.add(type_)
        if condition.get("status") not in _STATUSES:
            problems.append(f"{where} has status {condition.get('status')!r}, not True, False or Unknown")
        if not _CAMEL_CASE.match(condition.get("reason") or ""):
            problems.append(f"{where} has reason {condition.get('reason')!r}, not one CamelCase word")
        if not condition.get("lastTransitionTime"):
            problems.append(f"{where} has no lastTransitionTime")
        cond_observed = condition.get("observedGeneration")
        if cond_observed is None:
            problems.append(f"{where} has no observedGeneration")
        elif observed is not None and cond_observed > observed:
            problems.append(f"{where} observedGeneration {cond_observed} is ahead of the status' {observed}")
        elif observed is not None and cond_observed != observed and type_ in SUMMARY:
            # Step conditions may honestly lag (set for an earlier generation, not re-checked yet);
            # the summary conditions kstatus and Argo CD read must speak for the observed generation.
            problems.append(f"{where} observedGeneration {cond_observed} differs from the status' {observed}")
        if type_ in ABNORMAL_TRUE and condition.get("status") == "Unknown":
            problems.append(f"{where} is Unknown: abnormal-true conditions are True, False or absent")

    ready = _condition(obj, "Ready")
    if ready is None:
        problems.append("no Ready condition: it must be present from the first status write")
        return problems
    true = {type_ for type_ in ABNORMAL_TRUE if (c := _condition(obj, type_)) and c.get("status") == "True"}
    if ready.get("status") == "True" and true:
        problems.append(f"Ready is True while {', '.join(sorted(true))} is True")
    if true == set(ABNORMAL_TRUE):
        problems.append("Reconciling and Stalled are both True: a resource either progresses or is stuck")
    if ready.get("status") != "True" and ready.get("reason") in STALLING_REASONS and "Stalled" not in true:
        problems.append(
            f"Ready reason {ready.get('reason')} is a permanent failure but Stalled is not True: "
            "Flux would wait for its timeout instead of reporting the failure"
        )
    return problems
