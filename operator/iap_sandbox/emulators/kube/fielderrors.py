"""Field errors as kube-apiserver words them (k8s.io/apimachinery pkg/util/validation/field/errors.go).

`required(path)`, `invalid(path, value, detail)`, ... return a `Cause` whose `message` is the error body
(`Invalid value: "x": detail`) and whose `reason` is the cause type (`FieldValueInvalid`); paths are built
with `child`, `key` and `index` as field.Path renders them (`spec.versions[0].properties[metadata]`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

INVALID = "FieldValueInvalid"
REQUIRED = "FieldValueRequired"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
DUPLICATE = "FieldValueDuplicate"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
INTERNAL = "InternalError"

_WORDS = {
    INVALID: "Invalid value",
    TYPE_INVALID: "Invalid value",
    REQUIRED: "Required value",
    NOT_SUPPORTED: "Unsupported value",
    FORBIDDEN: "Forbidden",
    DUPLICATE: "Duplicate value",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    INTERNAL: "Internal error",
}


@dataclass(frozen=True)
class Cause:
    """One refused field, as in a Kubernetes Status' details.causes."""

    field: str  # e.g. "spec.cloudRun.region"
    message: str  # the error body, without the field
    reason: str  # one of the FieldValue* constants above

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def key(path: str, name: str) -> str:
    return f"{path}[{name}]"


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def show(value: Any) -> str:
    """A bad value as field.Error renders it: strings quoted, scalars plain, the rest as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value == int(value) else repr(value)
    if value is None:
        return "null"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _body(reason: str, value: Any, detail: str, *, with_value: bool) -> str:
    text = _WORDS[reason]
    if with_value:
        text = f"{text}: {show(value)}"
    return f"{text}: {detail}" if detail else text


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, _body(REQUIRED, None, detail, with_value=False), REQUIRED)


def forbidden(path: str, detail: str = "") -> Cause:
    return Cause(path, _body(FORBIDDEN, None, detail, with_value=False), FORBIDDEN)


def invalid(path: str, value: Any, detail: str = "") -> Cause:
    return Cause(path, _body(INVALID, value, detail, with_value=True), INVALID)


def duplicate(path: str, value: Any) -> Cause:
    return Cause(path, _body(DUPLICATE, value, "", with_value=True), DUPLICATE)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    listed = ", ".join(json.dumps(s) for s in supported)
    return Cause(
        path, _body(NOT_SUPPORTED, value, f"supported values: {listed}", with_value=True), NOT_SUPPORTED
    )


def too_long(path: str, limit: int, unit: str = "bytes") -> Cause:
    return Cause(
        path, _body(TOO_LONG, None, f"may not be more than {limit} {unit}", with_value=False), TOO_LONG
    )


def too_many(path: str, count: int, limit: int) -> Cause:
    return Cause(path, _body(TOO_MANY, count, f"must have at most {limit} items", with_value=True), TOO_MANY)


def internal(path: str, detail: str) -> Cause:
    return Cause(path, _body(INTERNAL, None, detail, with_value=False), INTERNAL)
