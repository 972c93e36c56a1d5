"""Schemas of the built-in kinds, from Kubernetes' own OpenAPI definitions (not written here).

They come from the `kubernetes-validate` package, which ships the definitions generated from
kube-apiserver's published OpenAPI document, one folder per Kubernetes release; the emulator announces
itself as 1.32 and reads that release's. They serve two things: unknown-field detection for
`fieldValidation` on built-in kinds (as the typed decoders report them) and the components of the
OpenAPI v2/v3 documents. Without the package both quietly do without built-in schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

RELEASE = "v1.32.0-local-strict"
Defs = Mapping[str, Any]


@cache
def definitions() -> Defs:
    """Every definition by its OpenAPI name (io.k8s.api.core.v1.Secret, ...); empty without the package."""
    try:
        root = (
            resources.files("kubernetes_validate") / "kubernetes-json-schema" / RELEASE / "_definitions.json"
        )
        data: dict[str, Any] = json.loads(root.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    return dict(data.get("$defs") or data.get("definitions") or {})


@cache
def _by_kind() -> dict[tuple[str, str, str], str]:
    found: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            found.setdefault((gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")), name)
    return found


def definition_name(group: str, version: str, kind: str) -> str | None:
    return _by_kind().get((group, version, kind))


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 50:
        schema = definitions().get(_ref_name(schema["$ref"]), {})
        seen += 1
    return schema


def unknown_fields(name: str, obj: Any, *, drop: bool = False) -> list[str]:
    """Paths of `obj` that definition `name` has no field for (`spec.template.spec.containers[0].foo`).

    With `drop`, they are also removed from `obj`, as decoding into the typed object loses them.
    """
    found: list[str] = []
    _walk(definitions().get(name, {}), obj, "", found, drop)
    return sorted(found)


def _walk(schema: Mapping[str, Any], value: Any, path: str, found: list[str], drop: bool) -> None:
    schema = _resolve(schema)
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in list(value.items()):
            where = f"{path}.{key}" if path else key
            if key in props:
                _walk(props[key], item, where, found, drop)
            elif isinstance(extra, Mapping):
                _walk(extra, item, where, found, drop)
            elif extra is False:
                found.append(where)
                if drop:
                    del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            _walk(schema["items"], item, f"{path}[{i}]", found, drop)


def referenced(names: list[str]) -> Iterator[str]:
    """`names` and every definition they refer to, transitively."""
    pending, seen = list(names), set()
    while pending:
        name = pending.pop()
        if name in seen or name not in definitions():
            continue
        seen.add(name)
        yield name
        pending.extend(_ref_name(ref) for ref in _refs(definitions()[name]))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def as_openapi(node: Any, prefix: str, *, v3: bool = True) -> Any:
    """A definition as OpenAPI writes it: one type (not [x, null]), refs under `prefix`, no `false` maps.

    In v3 a `$ref` with siblings (a description) becomes `allOf: [{$ref}]`, as kube-apiserver writes it.
    """
    if isinstance(node, list):
        return [as_openapi(item, prefix, v3=v3) for item in node]
    if not isinstance(node, Mapping):
        return node
    if node.get("oneOf") == [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]:
        return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out["$ref"] = prefix + _ref_name(value)
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if types:
                out["type"] = types[0]
        elif key == "additionalProperties" and value is False:
            continue
        elif key in {"properties", "patternProperties"} and isinstance(value, Mapping):
            out[key] = {name: as_openapi(sub, prefix, v3=v3) for name, sub in value.items()}
        else:
            out[key] = as_openapi(value, prefix, v3=v3)
    if v3 and "$ref" in out and len(out) > 1:  # OpenAPI 3.0 ignores siblings of $ref: keep the description
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out
