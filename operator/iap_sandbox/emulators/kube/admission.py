"""Admission of custom resources as the Kubernetes API server does it, for any structural CRD schema.

`admit()` prunes unknown fields, applies defaults, validates the OpenAPI v3 schema (types, enums,
patterns, formats, lengths, sizes, bounds, required fields, list types) and the CEL rules in
`x-kubernetes-validations` (with celpy), including transition rules against the old object.
Causes carry Kubernetes' field paths (`spec.access.members[2]`) and reasons (`FieldValueInvalid`, ...).

Known differences from a real API server: no CEL cost budget, no validation ratcheting, and
`optionalOldSelf` rules are treated like plain transition rules (skipped without an old value).
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from .fielderrors import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    TYPE_INVALID,
    Cause,
    duplicate,
)

Schema = Mapping[str, Any]

__all__ = ["AdmissionError", "Cause", "admit", "cel_causes", "prune", "schema_causes", "unknown_fields"]
_CEL_REASONS = {INVALID, REQUIRED, FORBIDDEN, DUPLICATE}


class AdmissionError(Exception):
    """The object was refused; `causes` says where and why."""

    def __init__(self, causes: Iterable[Cause]) -> None:
        self.causes: list[Cause] = list(causes)
        super().__init__("; ".join(f"{c.field}: {c.message}" for c in self.causes))


def admit(crd: Mapping[str, Any], obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate obj (and transition rules against old) with the served version's schema.

    Returns a pruned, defaulted deep copy; raises AdmissionError with every cause found.
    """
    version, causes = _served_version(crd, obj)
    if version is None:
        raise AdmissionError(causes)
    schema: Schema = version.get("schema", {}).get("openAPIV3Schema", {})
    result: dict[str, Any] = copy.deepcopy(dict(obj))
    prune_metadata(result.get("metadata"))
    prune(schema, result, embedded=True)
    _prune_nulls(schema, result)
    _default(schema, result)
    causes += _check_metadata(result.get("metadata"))
    causes += _SchemaCheck().run(schema, result, "")
    # Like the API server, CEL rules only run on an object whose types are right.
    if not any(c.reason == TYPE_INVALID for c in causes):
        old_value: Any = _MISSING
        if old is not None:
            old_value = copy.deepcopy(dict(old))
            prune(schema, old_value, embedded=True)
            _prune_nulls(schema, old_value)
            _default(schema, old_value)
        causes += _CelCheck().run(schema, result, old_value, "")
    if causes:
        raise AdmissionError(causes)
    return result


# --- which version ---------------------------------------------------------------------------------


def _served_version(
    crd: Mapping[str, Any], obj: Mapping[str, Any]
) -> tuple[Mapping[str, Any] | None, list[Cause]]:
    spec = crd.get("spec", {})
    group, kind = spec.get("group", ""), spec.get("names", {}).get("kind", "")
    served = {f"{group}/{v['name']}": v for v in spec.get("versions", []) if v.get("served", True)}
    api_version = obj.get("apiVersion")
    causes: list[Cause] = []
    if obj.get("kind") != kind:
        causes.append(Cause("kind", f"Invalid value: {_show(obj.get('kind'))}: must be {kind}", INVALID))
    if api_version not in served:
        supported = ", ".join(json.dumps(v) for v in served)
        causes.append(
            Cause(
                "apiVersion",
                f"Unsupported value: {_show(api_version)}: supported values: {supported}",
                NOT_SUPPORTED,
            )
        )
        return None, causes
    return served[api_version], causes


# --- pruning and defaulting --------------------------------------------------------------------------

_OBJECT_META_FIELDS = ("apiVersion", "kind", "metadata")


def prune(schema: Schema | None, value: Any, *, embedded: bool = False) -> list[str]:
    """Drop fields the schema does not know (in place); return their paths, sorted.

    As pkg/apiserver/schema/pruning/algorithm.go: at an embedded resource (or the root, `embedded=True`)
    apiVersion, kind and metadata are left to the API server; `x-kubernetes-preserve-unknown-fields`
    keeps unknown fields but still prunes inside the known ones.
    """
    unknown: list[str] = []
    if schema is not None and embedded and not schema.get("x-kubernetes-embedded-resource"):
        schema = {**schema, "x-kubernetes-embedded-resource": True}
    _prune_node(schema, value, "", unknown)
    return sorted(unknown)


def _prune_node(schema: Schema | None, value: Any, path: str, unknown: list[str]) -> None:
    if schema is not None and schema.get("x-kubernetes-preserve-unknown-fields"):
        _skip_prune(schema, value, path, unknown)
        return
    if isinstance(value, dict):
        if schema is None:
            unknown.extend(_child(path, k) for k in value)
            value.clear()
            return
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        props: Mapping[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            if embedded and key in _OBJECT_META_FIELDS:
                continue
            if key in props:
                _prune_node(props[key], value[key], _child(path, key), unknown)
            elif extra is not None:
                _prune_node(
                    extra if isinstance(extra, Mapping) else None, value[key], _child(path, key), unknown
                )
            else:
                if key not in _OBJECT_META_FIELDS or path:
                    unknown.append(_child(path, key))
                del value[key]
    elif isinstance(value, list):
        items = (
            schema.get("items") if schema is not None and isinstance(schema.get("items"), Mapping) else None
        )
        for i, item in enumerate(value):
            _prune_node(items, item, f"{path}[{i}]", unknown)


def _skip_prune(schema: Schema, value: Any, path: str, unknown: list[str]) -> None:
    if isinstance(value, dict):
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        props: Mapping[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if embedded and key in _OBJECT_META_FIELDS:
                continue
            if key in props:
                _prune_node(props[key], item, _child(path, key), unknown)
            elif extra is not None:
                _prune_node(extra if isinstance(extra, Mapping) else None, item, _child(path, key), unknown)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                _skip_prune(items, item, f"{path}[{i}]", unknown)


def _prune_nulls(schema: Schema, value: Any) -> None:
    """Drop nulls of non-nullable fields (a default, if any, takes their place)."""
    if isinstance(value, dict):
        for key in list(value):
            sub = _sub_schema(schema, key)
            if sub is None:
                continue
            if value[key] is None and not sub.get("nullable"):
                del value[key]
            else:
                _prune_nulls(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _prune_nulls(schema["items"], item)


# ObjectMeta's fields (k8s.io/apimachinery pkg/apis/meta/v1 types.go); anything else is unknown.
OBJECT_META = frozenset(
    {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation"}
    | {"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations"}
    | {"ownerReferences", "finalizers", "managedFields"}
)
_OWNER_REFERENCE = frozenset({"apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"})


def prune_metadata(meta: Any, path: str = "metadata") -> list[str]:
    """Drop (and report) what ObjectMeta has no field for, as decoding into ObjectMeta does."""
    if not isinstance(meta, dict):
        return []
    unknown = [_child(path, k) for k in meta if k not in OBJECT_META]
    for k in list(meta):
        if k not in OBJECT_META:
            del meta[k]
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        if isinstance(ref, dict):
            for k in [k for k in ref if k not in _OWNER_REFERENCE]:
                unknown.append(f"{path}.ownerReferences[{i}].{k}")
                del ref[k]
    return sorted(unknown)


def unknown_fields(crd: Mapping[str, Any], obj: Mapping[str, Any]) -> list[str]:
    """The paths fieldValidation=Strict refuses (and Warn reports): unknown to the schema or to ObjectMeta."""
    version, _ = _served_version(crd, obj)
    if version is None:
        return []
    schema: Schema = version.get("schema", {}).get("openAPIV3Schema", {})
    copied = copy.deepcopy(dict(obj))
    found = prune_metadata(copied.get("metadata"))
    if crd.get("spec", {}).get("preserveUnknownFields"):
        return found
    return sorted(found + prune(schema, copied, embedded=True))


def schema_causes(schema: Schema, value: Any, path: str) -> list[Cause]:
    """OpenAPI value validation of `value` (at `path`) against `schema`."""
    return _SchemaCheck().run(schema, value, path)


def cel_causes(schema: Schema, value: Any, old: Any, path: str) -> list[Cause]:
    """The x-kubernetes-validations rules of `schema` and below; `old` is oldSelf (transition rules)."""
    return _CelCheck().run(schema, value, old, path)


def _sub_schema(schema: Schema, key: str) -> Schema | None:
    """The schema of an object's field: a declared property, else additionalProperties if a schema."""
    props: Mapping[str, Schema] = schema.get("properties", {})
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def _default(schema: Schema, value: Any) -> None:
    """Apply `default`s in place, recursively (a defaulted object gets its own nested defaults)."""
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties", {})
        for key, prop in props.items():
            if key not in value and "default" in prop:
                value[key] = copy.deepcopy(prop["default"])
        for key, item in value.items():
            sub = _sub_schema(schema, key)
            if sub is not None:
                _default(sub, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _default(schema["items"], item)


# --- field paths and value display -------------------------------------------------------------------


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_SHOW_MAX = 128  # longer strings are cut in messages


def _show(value: Any) -> str:
    """A value as Kubernetes shows it in `Invalid value: ...`."""
    if isinstance(value, Mapping):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    if isinstance(value, str) and len(value) > _SHOW_MAX:
        value = f"{value[:_SHOW_MAX]}...(truncated)"
    return json.dumps(value, ensure_ascii=False)


# --- metadata ------------------------------------------------------------------------------------------

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_HINT = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com')"
)
_LABEL_HINT = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name')"
)


def _check_metadata(meta: Any) -> list[Cause]:
    if not isinstance(meta, Mapping):
        return [Cause("metadata.name", "Required value: name or generateName is required", REQUIRED)]
    causes: list[Cause] = []
    name = meta.get("name")
    if name is None or name == "":
        if not meta.get("generateName"):
            causes.append(
                Cause("metadata.name", "Required value: name or generateName is required", REQUIRED)
            )
    elif not isinstance(name, str) or len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        causes.append(Cause("metadata.name", f"Invalid value: {_show(name)}: {_SUBDOMAIN_HINT}", INVALID))
    namespace = meta.get("namespace")
    if namespace not in (None, "") and (
        not isinstance(namespace, str) or len(namespace) > 63 or not _DNS1123_LABEL.match(namespace)
    ):
        causes.append(
            Cause("metadata.namespace", f"Invalid value: {_show(namespace)}: {_LABEL_HINT}", INVALID)
        )
    return causes


# --- OpenAPI v3 schema validation --------------------------------------------------------------------

_TYPE_CHECKS: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    for name in ("object", "array", "string", "integer", "number"):
        if isinstance(value, _TYPE_CHECKS[name]):
            return name
    return "null" if value is None else type(value).__name__


def _has_type(value: Any, type_: str) -> bool:
    expected = _TYPE_CHECKS.get(type_)
    if expected is None:
        return True
    if isinstance(value, bool) and type_ != "boolean":
        return False
    return isinstance(value, expected)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$"
)


def _parse_datetime(text: str) -> datetime.datetime | None:
    if not _RFC3339.match(text):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None


def _format_ok(fmt: str, text: str) -> bool:
    """Formats the API server checks; unknown formats pass, as there."""
    try:
        if fmt == "date-time":
            return _parse_datetime(text) is not None
        if fmt == "date":
            datetime.date.fromisoformat(text)
            return len(text) == 10
        if fmt == "uuid":
            uuid.UUID(text)
            return len(text) == 36
        if fmt == "byte":
            base64.b64decode(text, validate=True)
        elif fmt == "ipv4":
            ipaddress.IPv4Address(text)
        elif fmt == "ipv6":
            ipaddress.IPv6Address(text)
        elif fmt == "cidr":
            ipaddress.ip_network(text, strict=False)
            return "/" in text
        elif fmt == "hostname":
            return bool(_HOSTNAME.match(text))
    except (ValueError, binascii.Error):
        return False
    return True


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class _SchemaCheck:
    """The OpenAPI v3 part of validation; collects causes."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def run(self, schema: Schema, value: Any, path: str) -> list[Cause]:
        self._node(schema, value, path, root=True)
        return self.causes

    def _add(self, path: str, message: str, reason: str = INVALID) -> None:
        self.causes.append(Cause(path, message, reason))

    def _node(self, schema: Schema, value: Any, path: str, *, root: bool = False) -> None:
        if value is None:
            if not schema.get("nullable"):
                type_ = schema.get("type", "object")
                self._add(
                    path,
                    f'Invalid value: "null": {path} in body must be of type {type_}: "null"',
                    TYPE_INVALID,
                )
            return
        type_ = schema.get("type")
        if schema.get("x-kubernetes-int-or-string"):
            if not (_has_type(value, "integer") or isinstance(value, str)):
                self._add(
                    path,
                    f"Invalid value: {_show(value)}: {path} in body must be of type integer or string",
                    TYPE_INVALID,
                )
                return
        elif type_ and not _has_type(value, type_):
            actual = _type_name(value)
            self._add(
                path,
                f'Invalid value: "{actual}": {path} in body must be of type {type_}: "{actual}"',
                TYPE_INVALID,
            )
            return
        self._enum(schema, value, path)
        if isinstance(value, str):
            self._string(schema, value, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self._number(schema, value, path)
        elif isinstance(value, list):
            self._array(schema, value, path)
        elif isinstance(value, dict):
            self._object(schema, value, path, root=root)
        self._combinators(schema, value, path)

    def _enum(self, schema: Schema, value: Any, path: str) -> None:
        allowed = schema.get("enum")
        if allowed is not None and value not in allowed:
            supported = ", ".join(_show(a) for a in allowed)
            self._add(
                path, f"Unsupported value: {_show(value)}: supported values: {supported}", NOT_SUPPORTED
            )

    def _size(self, schema: Schema, path: str, size: int, shown: str, bounds: tuple[str, str, str]) -> None:
        """minLength/maxLength, minItems/maxItems, minProperties/maxProperties with their messages."""
        low, high, unit = bounds
        if high in schema and size > schema[high]:
            self._add(
                path, f"Invalid value: {shown}: {path} in body should have at most {schema[high]} {unit}"
            )
        if low in schema and size < schema[low]:
            self._add(
                path, f"Invalid value: {shown}: {path} in body should have at least {schema[low]} {unit}"
            )

    def _string(self, schema: Schema, value: str, path: str) -> None:
        self._size(schema, path, len(value), _show(value), ("minLength", "maxLength", "characters"))
        pattern = schema.get("pattern")
        if pattern is not None and not _regex(pattern).search(value):
            self._add(path, f"Invalid value: {_show(value)}: {path} in body should match '{pattern}'")
        fmt = schema.get("format")
        if fmt and not _format_ok(fmt, value):
            self._add(
                path, f"Invalid value: {_show(value)}: {path} in body must be of type {fmt}: {_show(value)}"
            )

    def _number(self, schema: Schema, value: float, path: str) -> None:
        shown = _show(value)
        if "maximum" in schema:
            top, exclusive = schema["maximum"], bool(schema.get("exclusiveMaximum"))
            if value > top or (exclusive and value == top):
                word = "less than" if exclusive else "less than or equal to"
                self._add(path, f"Invalid value: {shown}: {path} in body should be {word} {top}")
        if "minimum" in schema:
            bottom, exclusive = schema["minimum"], bool(schema.get("exclusiveMinimum"))
            if value < bottom or (exclusive and value == bottom):
                word = "greater than" if exclusive else "greater than or equal to"
                self._add(path, f"Invalid value: {shown}: {path} in body should be {word} {bottom}")
        step = schema.get("multipleOf")
        if step and (value / step) != int(value / step):
            self._add(path, f"Invalid value: {shown}: {path} in body should be a multiple of {step}")

    def _array(self, schema: Schema, value: list[Any], path: str) -> None:
        self._size(schema, path, len(value), str(len(value)), ("minItems", "maxItems", "items"))
        items: Schema | None = schema.get("items") if isinstance(schema.get("items"), Mapping) else None
        for index, item in enumerate(value):
            if items is not None:
                self._node(items, item, f"{path}[{index}]")
        list_type = schema.get("x-kubernetes-list-type", "atomic")
        if list_type == "set":
            self._duplicates(value, path, lambda item: item)
        elif list_type == "map":
            keys: list[str] = list(schema.get("x-kubernetes-list-map-keys", []))
            self._duplicates(
                value,
                path,
                lambda item: {k: item[k] for k in keys if k in item} if isinstance(item, dict) else {},
            )

    def _duplicates(self, value: list[Any], path: str, key_of: Any) -> None:
        """As listtype/validation.go: each repeated value is reported once, at its first repeat."""
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            key = key_of(item)
            text = json.dumps(key, sort_keys=True)
            seen[text] = seen.get(text, 0) + 1
            if seen[text] == 2:
                self.causes.append(duplicate(f"{path}[{index}]", key))

    def _object(self, schema: Schema, value: dict[str, Any], path: str, *, root: bool) -> None:
        for name in schema.get("required", []):
            if name not in value:
                self._add(_child(path, name), "Required value", REQUIRED)
        self._size(
            schema, path, len(value), str(len(value)), ("minProperties", "maxProperties", "properties")
        )
        props: Mapping[str, Schema] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if root and key == "metadata":
                continue  # checked by _check_metadata, as ObjectMeta
            if key in props:
                self._node(props[key], item, _child(path, key))
            elif isinstance(extra, Mapping):
                self._node(extra, item, f"{path}[{key}]")

    def _combinators(self, schema: Schema, value: Any, path: str) -> None:
        for sub in schema.get("allOf", []):
            self._node(sub, value, path)
        for word, needed in (("anyOf", "any"), ("oneOf", "one")):
            subs = schema.get(word)
            if not subs:
                continue
            passing = sum(1 for sub in subs if not _SchemaCheck().run(sub, value, path))
            if passing == 0 or (needed == "one" and passing > 1):
                self._add(
                    path,
                    f"Invalid value: {_show(value)}: {path} in body must validate {needed} schema ({word})",
                )
        if "not" in schema and not _SchemaCheck().run(schema["not"], value, path):
            self._add(
                path, f"Invalid value: {_show(value)}: {path} in body must not validate the schema (not)"
            )


# --- CEL (x-kubernetes-validations) -----------------------------------------------------------------------

_MISSING: Any = object()  # no old value to compare with
_CEL = celpy.Environment()
_OLD_SELF = re.compile(r"\boldSelf\b")
_CEL_RESERVED = frozenset(
    {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function"}
    | {"if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}
)
_CEL_NAME = re.compile(r"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")


@cache
def _program(text: str) -> celpy.Runner:
    return _CEL.program(_CEL.compile(text))


def _escape(name: str) -> str:
    """Kubernetes' escaping of property names in CEL (`x-y` is `self.x__dash__y`)."""
    if name in _CEL_RESERVED:
        return f"__{name}__"
    if not _CEL_NAME.match(name):
        return name
    for raw, escaped in (("__", "__underscores__"), (".", "__dot__"), ("-", "__dash__"), ("/", "__slash__")):
        name = name.replace(raw, escaped)
    return name


def _to_cel(schema: Schema, value: Any) -> Any:
    """A JSON value as the CEL value Kubernetes gives rules (date-time strings are timestamps)."""
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = celtypes.MapType()
        for key, item in value.items():
            if key in props:
                out[celtypes.StringType(_escape(key))] = _to_cel(props[key], item)
            else:
                sub = extra if isinstance(extra, Mapping) else {}
                out[celtypes.StringType(key)] = _to_cel(sub, item)
        return out
    if isinstance(value, list):
        items: Schema = schema["items"] if isinstance(schema.get("items"), Mapping) else {}
        return celtypes.ListType([_to_cel(items, item) for item in value])
    if isinstance(value, str) and schema.get("format") == "date-time":
        parsed = _parse_datetime(value)
        if parsed is not None:
            return celtypes.TimestampType(parsed)
    return json_to_cel(value)


def _field_path(path: str, relative: str) -> str:
    """Append a rule's fieldPath (`.a.b`, `['x.y']`) to a field path."""
    for name, quoted in re.findall(r"\.([^.\[]+)|\['([^']*)'\]", relative):
        path = _child(path, name) if name else f"{path}[{quoted}]"
    return path


class _CelCheck:
    """The x-kubernetes-validations part of validation; collects causes."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def run(self, schema: Schema, value: Any, old: Any, path: str) -> list[Cause]:
        self._node(schema, value, old, path)
        return self.causes

    def _node(self, schema: Schema, value: Any, old: Any, path: str) -> None:
        if value is None:
            return
        for rule in schema.get("x-kubernetes-validations", []):
            self._rule(rule, schema, value, old, path)
        for sub_schema, sub_value, sub_old, sub_path in _children(schema, value, old, path):
            self._node(sub_schema, sub_value, sub_old, sub_path)

    def _rule(self, rule: Mapping[str, Any], schema: Schema, value: Any, old: Any, path: str) -> None:
        text: str = rule["rule"]
        transition = bool(_OLD_SELF.search(text))
        if transition and (old is _MISSING or old is None):
            return  # transition rules only apply to updates where the field existed before
        activation: dict[str, Any] = {"self": _to_cel(schema, value)}
        if transition:
            activation["oldSelf"] = _to_cel(schema, old)
        field = _field_path(path, rule.get("fieldPath", ""))
        try:
            verdict = _program(text).evaluate(activation)
        except CELParseError as error:
            self.causes.append(
                Cause(field, f"Invalid value: {_show(text)}: compilation failed: {error}", INVALID)
            )
            return
        except (CELEvalError, TypeError, ValueError, KeyError) as error:
            detail = _eval_detail(error)
            self.causes.append(
                Cause(
                    field, f'Invalid value: "{_type_name(value)}": rule evaluation error: {detail}', INVALID
                )
            )
            return
        if isinstance(verdict, bool | celtypes.BoolType) and bool(verdict):
            return
        message = self._message(rule, activation) or f"failed rule: {text}"
        reason = rule.get("reason", INVALID)
        reason = reason if reason in _CEL_REASONS else INVALID
        prefix = {
            REQUIRED: "Required value: ",
            FORBIDDEN: "Forbidden: ",
            DUPLICATE: "Duplicate value: ",
        }.get(reason, f'Invalid value: "{_type_name(value)}": ')
        self.causes.append(Cause(field, prefix + message, reason))

    @staticmethod
    def _message(rule: Mapping[str, Any], activation: Mapping[str, Any]) -> str | None:
        expression = rule.get("messageExpression")
        if expression:
            try:
                text = _program(expression).evaluate(dict(activation))
            except (CELParseError, CELEvalError, TypeError, ValueError, KeyError):
                text = None  # the API server falls back to `message`
            if isinstance(text, str) and text.strip():
                return str(text)
        message = rule.get("message")
        return str(message) if message else None


def _eval_detail(error: Exception) -> str:
    """celpy's errors carry (summary, exception type, exception args): show the most specific part."""
    args = error.args
    if len(args) == 3 and isinstance(args[2], tuple) and args[2]:
        return str(args[2][0])
    return str(args[0]) if args else type(error).__name__


def _children(schema: Schema, value: Any, old: Any, path: str) -> Iterator[tuple[Schema, Any, Any, str]]:
    """Sub-nodes with their correlated old values (through objects and list-type map lists only)."""
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for key, item in value.items():
            if key in props:
                yield props[key], item, old_map.get(key, _MISSING), _child(path, key)
            elif isinstance(extra, Mapping):
                yield extra, item, old_map.get(key, _MISSING), f"{path}[{key}]"
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        items: Schema = schema["items"]
        keys = list(schema.get("x-kubernetes-list-map-keys", []))
        correlate = schema.get("x-kubernetes-list-type") == "map" and isinstance(old, list)
        old_by_key = {_map_key(keys, o): o for o in old} if correlate else {}
        for index, item in enumerate(value):
            previous = old_by_key.get(_map_key(keys, item), _MISSING) if correlate else _MISSING
            yield items, item, previous, f"{path}[{index}]"


def _map_key(keys: list[str], item: Any) -> str:
    return json.dumps([item.get(k) for k in keys] if isinstance(item, dict) else item, sort_keys=True)
