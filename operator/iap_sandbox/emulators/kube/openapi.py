"""The OpenAPI v3 (/openapi/v3, one document per group-version) and v2 (/openapi/v2) documents.

kubectl reads them for its default validation (`--validate=strict`: it looks for the `fieldValidation`
query parameter on the PATCH operation of the kind's `x-kubernetes-group-version-kind` and, when found,
leaves validation to the server), for `kubectl explain` and for the patch strategy of built-in kinds.
CRD kinds are published as k8s.io/apiextensions-apiserver pkg/controller/openapi/builder/builder.go
does: the version's schema, with `metadata` a reference to ObjectMeta, apiVersion and kind from TypeMeta,
under the model name of the reversed group (dev.iap-operator.v1alpha1.IapProtectedService); the v2 form
drops what OpenAPI v2 cannot say (nullable, the combinators, CEL rules). Built-in kinds use Kubernetes'
own definitions (builtin_schemas). Only JSON is served: the protobuf form of v2 is not.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import builtin_schemas
from .kinds import KindInfo
from .registry import KindRegistry

Doc = dict[str, Any]
CrdOf = Callable[[KindInfo], Mapping[str, Any] | None]

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_META_DESCRIPTION = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_API_VERSION = {
    "type": "string",
    "description": "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject unrecognized values. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
}
_KIND = {
    "type": "string",
    "description": "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More "
    "info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
}
_MINIMAL_META = {
    OBJECT_META: {
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have.",
    },
    LIST_META: {
        "type": "object",
        "description": "ListMeta describes metadata that synthetic resources must have.",
    },
}
_V2_DROPPED = ("nullable", "anyOf", "oneOf", "allOf", "not", "x-kubernetes-validations")


def model_name(info: KindInfo, kind: str | None = None) -> str:
    """builder.go's gvkToModelName: the group reversed (iap-operator.dev -> dev.iap-operator)."""
    group = ".".join(reversed(info.group.split("."))) if info.group else "io.k8s.api.core"
    return f"{group}.{info.version}.{kind or info.kind}"


def _key(info: KindInfo) -> tuple[str, str, str]:
    return (info.group, info.version, info.plural)


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gvk(info: KindInfo, kind: str | None = None) -> dict[str, str]:
    return {"group": info.group, "version": info.version, "kind": kind or info.kind}


def _ref(prefix: str, name: str, description: str, *, v3: bool) -> dict[str, Any]:
    if v3:
        return {"allOf": [{"$ref": prefix + name}], "description": description}
    return {"$ref": prefix + name, "description": description}


def _strip_v2(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_v2(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    return {k: _strip_v2(v) for k, v in node.items() if k not in _V2_DROPPED}


def _crd_schemas(info: KindInfo, crd: Mapping[str, Any], prefix: str, *, v3: bool) -> dict[str, Any]:
    version: Mapping[str, Any] = next(
        (v for v in crd["spec"]["versions"] if v.get("name") == info.version), {}
    )
    schema = copy.deepcopy(((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"})
    if not v3:
        schema = _strip_v2(schema)
    props = schema.setdefault("properties", {})
    props["metadata"] = _ref(prefix, OBJECT_META, _META_DESCRIPTION, v3=v3)
    props["apiVersion"] = {
        **_API_VERSION,
        **{k: v for k, v in props.get("apiVersion", {}).items() if k == "description"},
    }
    props["kind"] = {**_KIND, **{k: v for k, v in props.get("kind", {}).items() if k == "description"}}
    schema.setdefault("type", "object")
    schema["x-kubernetes-group-version-kind"] = [_gvk(info)]
    listing = {
        "type": "object",
        "description": f"{info.list_kind} is a list of {info.kind}",
        "required": ["items"],
        "properties": {
            "apiVersion": dict(_API_VERSION),
            "kind": dict(_KIND),
            "items": {
                "type": "array",
                "description": f"List of {info.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                "items": {"$ref": prefix + model_name(info)},
            },
            "metadata": _ref(prefix, LIST_META, "Standard list metadata.", v3=v3),
        },
        "x-kubernetes-group-version-kind": [_gvk(info, info.list_kind)],
    }
    return {model_name(info): schema, model_name(info, info.list_kind): listing}


Names = dict[tuple[str, str, str], str]


def _schemas(
    kinds: Iterable[KindInfo], crd_of: CrdOf, prefix: str, *, v3: bool
) -> tuple[dict[str, Any], Names]:
    """The components of a document, and each kind's model name by (group, version, plural)."""
    out: dict[str, Any] = {}
    names: Names = {}
    builtin: list[str] = [OBJECT_META, LIST_META]
    for info in kinds:
        crd = crd_of(info)
        if crd is not None:
            out.update(_crd_schemas(info, crd, prefix, v3=v3))
            names[_key(info)] = model_name(info)
            continue
        name = builtin_schemas.definition_name(info.group, info.version, info.kind)
        if name is None:
            name = model_name(info)
            out[name] = {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "x-kubernetes-group-version-kind": [_gvk(info)],
            }
        else:
            builtin.append(name)
        names[_key(info)] = name
    defs = builtin_schemas.definitions()
    for name in builtin_schemas.referenced(builtin):
        out[name] = builtin_schemas.as_openapi(defs[name], prefix, v3=v3)
    for name, minimal in _MINIMAL_META.items():
        out.setdefault(name, dict(minimal))
    return out, names


def _query(name: str, description: str, type_: str, *, v3: bool) -> dict[str, Any]:
    if v3:
        return {
            "name": name,
            "in": "query",
            "description": description,
            "schema": {"type": type_, "uniqueItems": True},
        }
    return {"name": name, "in": "query", "description": description, "type": type_, "uniqueItems": True}


def _write_params(*, v3: bool, patch: bool = False) -> list[dict[str, Any]]:
    params = [
        _query(
            "dryRun", "When present, indicates that modifications should not be persisted.", "string", v3=v3
        ),
        _query(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
            "string",
            v3=v3,
        ),
        _query(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown "
            "or duplicate fields. Valid values are: Ignore, Warn (the default) and Strict.",
            "string",
            v3=v3,
        ),
    ]
    if patch:
        params.append(_query("force", 'Force is going to "force" Apply requests.', "boolean", v3=v3))
    return params


def _operation(
    info: KindInfo,
    action: str,
    model: str,
    prefix: str,
    *,
    v3: bool,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{action}{info.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(info),
        "parameters": params or [],
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
    }
    ref = {"$ref": prefix + model}
    if v3:
        op["responses"]["200"]["content"] = {"application/json": {"schema": ref}}
        if action in {"put", "post", "patch"}:
            op["requestBody"] = {"content": {"application/json": {"schema": ref}}, "required": True}
    else:
        op["responses"]["200"]["schema"] = ref
        if action in {"put", "post", "patch"}:
            op["parameters"] = [
                {"name": "body", "in": "body", "required": True, "schema": ref},
                *op["parameters"],
            ]
    return op


def _paths(info: KindInfo, model: str, prefix: str, *, v3: bool) -> dict[str, Any]:
    base = f"/{gv_path(info.group, info.version)}"
    collection = (
        f"{base}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"{base}/{info.plural}"
    )
    item = f"{collection}/{{name}}"
    list_model = f"{model.rsplit('.', 1)[0]}.{info.list_kind}" if info.crd_name else model
    writes, patch = _write_params(v3=v3), _write_params(v3=v3, patch=True)
    paths: dict[str, Any] = {
        collection: {
            "get": _operation(info, "list", list_model, prefix, v3=v3),
            "post": _operation(info, "post", model, prefix, v3=v3, params=writes),
            "delete": _operation(info, "deletecollection", model, prefix, v3=v3),
        },
        item: {
            "get": _operation(info, "get", model, prefix, v3=v3),
            "put": _operation(info, "put", model, prefix, v3=v3, params=writes),
            "patch": _operation(info, "patch", model, prefix, v3=v3, params=patch),
            "delete": _operation(info, "delete", model, prefix, v3=v3),
        },
    }
    if info.namespaced:
        paths[f"{base}/{info.plural}"] = {"get": _operation(info, "list", list_model, prefix, v3=v3)}
    for sub in sorted(info.subresources):
        paths[f"{item}/{sub}"] = {
            "get": _operation(info, "get", model, prefix, v3=v3),
            "put": _operation(info, "put", model, prefix, v3=v3, params=writes),
            "patch": _operation(info, "patch", model, prefix, v3=v3, params=patch),
        }
    return paths


def _document(kinds: list[KindInfo], crd_of: CrdOf, prefix: str, *, v3: bool) -> tuple[dict[str, Any], Doc]:
    """The schemas and the paths of a document about `kinds`."""
    schemas, names = _schemas(kinds, crd_of, prefix, v3=v3)
    paths: dict[str, Any] = {}
    for info in kinds:
        paths.update(_paths(info, names[_key(info)], prefix, v3=v3))
    return schemas, paths


_INFO = {"title": "Kubernetes", "version": "v1.32.0"}


def v3_document(registry: KindRegistry, crd_of: CrdOf, group: str, version: str) -> Doc | None:
    kinds = registry.in_version(group, version)
    if not kinds:
        return None
    schemas, paths = _document(kinds, crd_of, "#/components/schemas/", v3=True)
    return {"openapi": "3.0.0", "info": dict(_INFO), "paths": paths, "components": {"schemas": schemas}}


def v3_index(registry: KindRegistry, crd_of: CrdOf) -> Doc:
    paths: dict[str, Any] = {}
    versions = {(info.group, info.version) for info in registry.all()}
    for group, version in sorted(versions):
        document = v3_document(registry, crd_of, group, version)
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest().upper()
        path = gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def v2_document(registry: KindRegistry, crd_of: CrdOf) -> Doc:
    definitions, paths = _document(registry.all(), crd_of, "#/definitions/", v3=False)
    return {"swagger": "2.0", "info": dict(_INFO), "paths": paths, "definitions": definitions}
