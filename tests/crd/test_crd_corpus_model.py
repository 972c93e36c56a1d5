"""The pydantic model agrees with the CRD on the whole corpus (the operator can trust a parsed spec)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pydantic
import pytest

from iap_operator.api import IapProtectedServiceStatus, parse_spec
from iap_sandbox.emulators.kube.admission import admit

from .corpus import Case


def model_errors(obj: Mapping[str, Any]) -> list[str]:
    """Parse what the model covers, spec (as the operator does) and status; the field paths it refuses."""
    fields: list[str] = []
    parts: list[tuple[str, Callable[[Any], object]]] = [("spec", parse_spec)]
    if "status" in obj:
        parts.append(("status", IapProtectedServiceStatus.model_validate))
    for top, parse in parts:
        try:
            parse(obj.get(top) or {})
        except pydantic.ValidationError as error:
            fields += [_path(top, detail["loc"]) for detail in error.errors()]
    return fields


def _path(top: str, loc: tuple[int | str, ...]) -> str:
    path = top
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}"
    return path


def _related(a: str, b: str) -> bool:
    """One field path is the other or contains it."""
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))


def test_valid_manifest_parses_with_the_crd_defaults(crd: dict[str, Any], valid_case: Case) -> None:
    assert model_errors(valid_case.obj) == []
    raw = parse_spec(valid_case.obj["spec"])
    stored = parse_spec(admit(crd, valid_case.copy(), None)["spec"])
    assert raw.model_dump() == stored.model_dump(), "model defaults differ from the CRD's"
    assert raw.resync_seconds >= 60


def test_invalid_manifest_fails_the_model_too(invalid_case: Case) -> None:
    errors = model_errors(invalid_case.obj)
    if invalid_case.model_skip:
        # What the model cannot see (transition rules, metadata) must be the only problem.
        assert errors == []
        pytest.skip(f"not the model's to check: {invalid_case.model_skip}")
    assert errors, "the model accepts what the CRD refuses"
    expected = invalid_case.expect_field
    assert any(_related(expected, field) for field in errors), (
        f"model refuses {errors}, CRD refuses {expected}"
    )


def test_parse_spec_reads_camel_case_only() -> None:
    spec = {"cloud_run": {"service": "hello", "region": "us-central1"}, "mode": "Direct"}
    with pytest.raises(pydantic.ValidationError):
        parse_spec(spec)
