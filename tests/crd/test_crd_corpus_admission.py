"""The corpus through admit(): valid manifests pass with defaults, invalid ones are refused at their field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from iap_sandbox.emulators.kube.admission import AdmissionError, admit

from .corpus import INVALID, VALID, Case

# What the API server fills in when a manifest leaves these out (the CRD's `default`s).
SPEC_DEFAULTS = {
    "mode": "LoadBalancer",
    "invoker": "IapServiceAgent",
    "deletionPolicy": "Delete",
    "resyncPeriod": "10m",
}
SECRET_REF_DEFAULTS = {"clientIdKey": "client_id", "clientSecretKey": "client_secret"}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def expected_after_admission(obj: dict[str, Any]) -> dict[str, Any]:
    """The manifest as stored: nulls of (non-nullable) spec fields dropped, defaults filled in."""
    expected = copy.deepcopy(obj)
    spec = expected["spec"] = _without_nulls(expected["spec"])
    for key, value in SPEC_DEFAULTS.items():
        spec.setdefault(key, value)
    secret_ref = spec.get("oauthClient", {}).get("secretRef")
    if secret_ref is not None:
        for key, value in SECRET_REF_DEFAULTS.items():
            secret_ref.setdefault(key, value)
    return expected


def test_corpus_size() -> None:
    assert len(VALID) >= 12
    assert len(INVALID) >= 40


def test_valid_manifest_is_admitted_with_defaults(crd: dict[str, Any], valid_case: Case) -> None:
    obj = valid_case.copy()
    admitted = admit(crd, obj, None)
    assert admitted == expected_after_admission(valid_case.obj)
    assert obj == valid_case.obj, "admit() must not modify its input"


def test_valid_manifest_is_admitted_as_an_unchanged_update(crd: dict[str, Any], valid_case: Case) -> None:
    stored = admit(crd, valid_case.copy(), None)
    assert admit(crd, stored, stored) == stored


def test_invalid_manifest_is_refused_at_its_field(crd: dict[str, Any], invalid_case: Case) -> None:
    with pytest.raises(AdmissionError) as refused:
        admit(crd, invalid_case.copy(), invalid_case.old)
    causes = refused.value.causes
    fields = [c.field for c in causes]
    assert invalid_case.expect_field in fields, (
        f"expected a cause at {invalid_case.expect_field}, got {causes}"
    )
    if invalid_case.expect_reason:
        reasons = {c.reason for c in causes if c.field == invalid_case.expect_field}
        assert invalid_case.expect_reason in reasons, causes
    assert all(c.message for c in causes)
    assert invalid_case.expect_field in str(refused.value)


@pytest.mark.parametrize("case", [c for c in INVALID if c.old is not None], ids=lambda c: c.name)
def test_transition_cases_are_refused_only_because_of_the_old_object(crd: dict[str, Any], case: Case) -> None:
    """The refused update is a fine object on its own: only the transition rule (oldSelf) refuses it."""
    admit(crd, case.copy(), None)
    stored = admit(crd, case.old, None) if case.old is not None else None
    assert stored is not None
    admit(crd, stored, stored)  # and the stored object may be re-applied unchanged


def test_refusals_carry_the_rule_message(crd: dict[str, Any]) -> None:
    case = next(c for c in INVALID if c.name == "load-balancer-in-direct-mode")
    with pytest.raises(AdmissionError) as refused:
        admit(crd, case.copy(), None)
    (cause,) = [c for c in refused.value.causes if c.field == "spec.loadBalancer"]
    assert cause.reason == "FieldValueForbidden"
    assert cause.message.startswith("Forbidden: loadBalancer must not be set when mode is Direct")
