"""Glue to the CRD admission module (`admission.admit`): defaulting and validation as 422 `Status`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import admission, errors

# admit(crd, new_obj, old_obj) -> a defaulted deep copy; raises admission.AdmissionError.
Admitter = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any] | None], dict[str, Any]]


def default_admitter() -> Admitter:
    return admission.admit


def admit(
    admitter: Admitter,
    crd: Mapping[str, Any],
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Run the admitter; turn its refusal into kube-apiserver's 422 `Invalid` Status."""
    try:
        return dict(admitter(crd, obj, old))
    except admission.AdmissionError as exc:
        names = crd["spec"]["names"]
        raise errors.invalid(
            names["kind"],
            crd["spec"]["group"],
            str((obj.get("metadata") or {}).get("name", "")),
            [{"field": c.field, "message": c.message, "reason": c.reason} for c in exc.causes],
        ) from exc
