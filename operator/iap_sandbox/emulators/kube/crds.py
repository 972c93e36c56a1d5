"""CustomResourceDefinitions: their sanity checks, the kinds they define, the status the server reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import crdvalidation
from .kinds import KindInfo

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def check_crd(crd: dict[str, Any], old: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
    """Default the CRD in place (names, conversion), then every cause kube-apiserver would refuse it for."""
    crdvalidation.apply_defaults(crd)
    return [cause.as_dict() for cause in crdvalidation.validate_crd(crd, old)]


def storage_version(crd: Mapping[str, Any]) -> str:
    for version in crd["spec"]["versions"]:
        if version.get("storage"):
            return str(version["name"])
    raise ValueError("a CRD without a storage version")  # excluded by check_crd()


def kinds_of(crd: Mapping[str, Any]) -> list[KindInfo]:
    """One `KindInfo` per served version of a (checked) CRD."""
    spec = crd["spec"]
    names = spec["names"]
    stored = storage_version(crd)
    return [
        KindInfo(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec["scope"] == "Namespaced",
            singular=names.get("singular") or names["kind"].lower(),
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=frozenset((version.get("subresources") or {}).keys()),
            storage_version=stored,
            crd_name=crd["metadata"]["name"],
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
        )
        for version in spec["versions"]
        if version.get("served", True)
    ]


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}


def established_status(crd: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The status the apiextensions controller reports once the names are accepted."""
    names = dict(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    return {
        "acceptedNames": names,
        "storedVersions": [storage_version(crd)],
        "conditions": [
            _condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", now),
            _condition(
                "Established", "True", "InitialNamesAccepted", "the initial names have been accepted", now
            ),
        ],
    }


def terminating_status(status: Mapping[str, Any], now: str) -> dict[str, Any]:
    conditions = [c for c in status.get("conditions", []) if c.get("type") != "Terminating"]
    conditions.append(
        _condition(
            "Terminating", "True", "InstanceDeletionInProgress", "CustomResource deletion is in progress", now
        )
    )
    return {**status, "conditions": conditions}
