"""Google's discovery documents (shipped with google-api-python-client) and request decoding with them.

`decode_request(document, schema, body, field)` reads a request body the way Google's proto JSON parser
does: camelCase or snake_case names, enums as names or numbers (the REST clients send numbers with
`enum-encoding=int`), output-only fields dropped, and a 400 `Invalid JSON payload received. Unknown
name ...` for unknown fields.
It returns the body with camelCase names and enum names, ready to store.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, cast

from .core import JSON, GoogleError

# Enums whose proto numbers are not their position in the discovery document, keyed by their first name
# (the REST clients send numbers). Read-only fields are dropped before decoding, so only input enums here.
_SPARSE_ENUMS: dict[str, dict[int, str]] = {
    "LAUNCH_STAGE_UNSPECIFIED": {
        0: "LAUNCH_STAGE_UNSPECIFIED",
        6: "UNIMPLEMENTED",
        7: "PRELAUNCH",
        1: "EARLY_ACCESS",
        2: "ALPHA",
        3: "BETA",
        4: "GA",
        5: "DEPRECATED",
    },
    "IDENTITY_SOURCE_UNSPECIFIED": {0: "IDENTITY_SOURCE_UNSPECIFIED", 3: "WORKFORCE_IDENTITY_FEDERATION"},
}


@cache
def load_document(name: str) -> dict[str, Any]:
    """A discovery document shipped with google-api-python-client, e.g. `run.v2`."""
    folder = resources.files("googleapiclient.discovery_cache") / "documents"
    document: dict[str, Any] = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    return document


def camel(name: str) -> str:
    """`update_mask` -> `updateMask` (names already in camelCase pass through)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_path(path: str) -> str:
    """A field-mask path in either spelling -> camelCase (`template.containers` stays as is)."""
    return ".".join(camel(part) for part in path.strip().split("."))


def apply_field_mask(target: JSON, source: Mapping[str, Any], paths: list[str]) -> JSON:
    """A copy of `target`, each dotted path set to `source`'s value (removed where `source` lacks it)."""
    result = copy.deepcopy(target)
    for dotted in paths:
        *parents, leaf = dotted.split(".")
        present, value = True, cast(Any, source)
        for part in [*parents, leaf]:
            if not isinstance(value, Mapping) or part not in value:
                present, value = False, None
                break
            value = value[part]
        node = result
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                if not present:
                    break
                child = node[part] = {}
            node = child
        else:
            if present:
                node[leaf] = copy.deepcopy(value)
            else:
                node.pop(leaf, None)
    return result


def _invalid(message: str, field: str = "") -> GoogleError:
    violation = {"field": field, "description": message}
    return GoogleError(
        400,
        message,
        status="INVALID_ARGUMENT",
        reason="invalid",
        details=[{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}],
    )


def _enum_value(value: Any, names: list[str], where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if names and names[0] in _SPARSE_ENUMS:
            name = _SPARSE_ENUMS[names[0]].get(value)
        else:
            name = names[value] if 0 <= value < len(names) else None
        if name is None:
            raise _invalid(f"Invalid value at '{where}', {value}", where)
        return name
    if isinstance(value, str) and value in names:
        return value
    raise _invalid(f"Invalid value at '{where}', \"{value}\"")


def decode_request(document: str, schema: str, body: Any, field: str) -> Any:
    """`body` checked and normalized against `schema` of `document`; `field` names it in errors."""
    return _Decoder(load_document(document)["schemas"]).value(body, {"$ref": schema}, field)


class _Decoder:
    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas = schemas

    def value(self, value: Any, schema: Mapping[str, Any], where: str) -> Any:
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        if value is None:
            return None
        kind = schema.get("type")
        if kind == "object":
            return self.object(value, schema, where)
        if kind == "array":
            if not isinstance(value, list):
                raise _invalid(f"Invalid value at '{where}': expected a list.")
            items = schema.get("items", {"type": "any"})
            return [self.value(item, items, f"{where}[{i}]") for i, item in enumerate(value)]
        if kind == "string" and "enum" in schema:
            return _enum_value(value, schema["enum"], where)
        if kind == "string" and schema.get("format") in {"int64", "uint64"} and isinstance(value, int):
            return str(value)
        if kind == "integer" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        return value

    def object(self, value: Any, schema: Mapping[str, Any], where: str) -> Any:
        if not isinstance(value, dict):
            raise _invalid(f"Invalid value at '{where}': expected an object.")
        properties: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        decoded: JSON = {}
        for key, item in value.items():
            name = key if key in properties else camel(key)
            if name in properties:
                if properties[name].get("readOnly"):
                    continue  # output only: servers ignore what clients echo back
                decoded[name] = self.value(item, properties[name], f"{where}.{_snake(name)}")
            elif extra is not None:
                decoded[key] = (
                    item if extra.get("type") == "any" else self.value(item, extra, f"{where}[{key}]")
                )
            else:
                raise _invalid(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field.",
                    where,
                )
        return {k: v for k, v in decoded.items() if v is not None}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


# ------------------------------------------------------------------------------- enum-encoding=int


def enum_ints_requested(query: Mapping[str, str]) -> bool:
    """Whether the request asked for `$alt=json;enum-encoding=int` (the google-cloud-* REST clients do)."""
    return "enum-encoding=int" in query.get("$alt", "")


def encode_enums(descriptor: Any, body: Any) -> Any:
    """`body` (the JSON of the proto message `descriptor` describes) with every enum as its number, as
    GCP answers `enum-encoding=int` (recorded: iap__v1beta1__iapsettings__projectiapsettings).

    The numbers come from the proto descriptors of Google's client libraries: the discovery documents
    list enum values in an order that is not always the proto's (launchStage, Condition.reason, ...).
    """
    if not isinstance(body, dict):
        return body
    fields = {f.json_name: f for f in descriptor.fields}
    encoded: JSON = {}
    for key, value in body.items():
        field = fields.get(key)
        if field is None:
            encoded[key] = value
        elif field.enum_type is not None:
            encoded[key] = _numbers(field.enum_type, value)
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            encoded[key] = (
                {k: _numbers(value_field.enum_type, v) for k, v in value.items()}
                if value_field.enum_type is not None and isinstance(value, dict)
                else value
            )
        elif field.message_type is not None:
            if isinstance(value, list):
                encoded[key] = [encode_enums(field.message_type, item) for item in value]
            else:
                encoded[key] = encode_enums(field.message_type, value)
        else:
            encoded[key] = value
    return encoded


def _numbers(enum: Any, value: Any) -> Any:
    if isinstance(value, list):
        return [_numbers(enum, item) for item in value]
    if isinstance(value, str) and value in enum.values_by_name:
        return enum.values_by_name[value].number
    return value
