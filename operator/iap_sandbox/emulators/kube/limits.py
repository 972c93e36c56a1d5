"""What kube-apiserver refuses before a write reaches storage: unknown fields and sizes.

`fieldValidation` (k8s.io/apiserver pkg/endpoints/handlers create.go, update.go, patch.go):
  - Strict: create/update answer 400 `<Kind> in version "<v>" cannot be handled as a <Kind>: strict
    decoding error: unknown field "spec.x"`; JSON and merge patches 422 `Invalid` on field `patch`.
  - Warn (the default when the parameter is absent): the write goes through, unknown fields are
    dropped, and each is reported in a `Warning: 299 - "unknown field \"spec.x\""` header.
  - Ignore: dropped silently.
  Server-side apply refuses unknown fields whatever the directive (the typed converter of
  k8s.io/apimachinery pkg/util/managedfields), with a 500 `failed to create typed patch object`.
Sizes: annotations at most 256 KiB in total (k8s.io/apimachinery pkg/api/validation/objectmeta.go),
request bodies at most 3 MiB (pkg/server/config.go MaxRequestBodyBytes) and a stored object at most
etcd's default --max-request-bytes of 1.5 MiB (`etcdserver: request is too large`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import admission, builtin_schemas, errors
from .fielderrors import invalid, too_long
from .kinds import KindInfo

DIRECTIVES = ("Ignore", "Warn", "Strict")
ANNOTATIONS_LIMIT = 256 * 1024
REQUEST_BODY_LIMIT = 3 * 1024 * 1024
OBJECT_LIMIT = 1536 * 1024  # etcd's --max-request-bytes default (1.5 MiB)


def directive(params: Mapping[str, str], options: str = "CreateOptions") -> str:
    value = params.get("fieldValidation") or "Warn"
    if value not in DIRECTIVES:
        raise errors.invalid(
            options,
            "meta.k8s.io",
            "",
            [invalid("fieldValidation", value, "must be one of Ignore, Warn or Strict").as_dict()],
        )
    return value


def unknown_fields(info: KindInfo, crd: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> list[str]:
    if crd is not None:
        return admission.unknown_fields(crd, obj)
    name = builtin_schemas.definition_name(info.group, info.version, info.kind)
    return builtin_schemas.unknown_fields(name, obj) if name else []


def strict_error(paths: list[str]) -> str:
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in paths)


def check_decoded(
    info: KindInfo, paths: list[str], mode: str, warnings: list[str] | None, *, patched: Any = None
) -> None:
    """Apply the directive to the unknown fields of a request body (or, with `patched`, a patch's result)."""
    if not paths or mode == "Ignore":
        return
    if mode == "Warn":
        if warnings is not None:
            warnings.extend(f'unknown field "{p}"' for p in paths)
        return
    if patched is None:
        kind, version = info.kind, info.version
        raise errors.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {kind}: {strict_error(paths)}'
        )
    shown = json.dumps(patched, separators=(",", ":"), sort_keys=True)
    raise errors.invalid("", "", "", [invalid("patch", shown, strict_error(paths)).as_dict()])


def check_applied(info: KindInfo, paths: list[str], namespace: str | None, name: str) -> None:
    """Server-side apply: an applied configuration may only name fields the schema declares."""
    if not paths:
        return
    gvk = f"{info.api_version}, Kind={info.kind}" if info.group else f"/{info.version}, Kind={info.kind}"
    details = "\n".join(f".{p}: field not declared in schema" for p in paths)
    raise errors.ApiError(
        500, "", f"failed to create typed patch object ({namespace or ''}/{name}; {gvk}): {details}"
    )


def check_metadata_size(info: KindInfo, obj: Mapping[str, Any]) -> None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_LIMIT:
        name = str((obj.get("metadata") or {}).get("name") or "")
        cause = too_long("metadata.annotations", ANNOTATIONS_LIMIT)
        raise errors.invalid(info.kind, info.group, name, [cause.as_dict()])


def check_stored_size(obj: Mapping[str, Any]) -> None:
    if len(json.dumps(obj, separators=(",", ":")).encode()) > OBJECT_LIMIT:
        raise errors.ApiError(500, "", "etcdserver: request is too large")


def check_body_size(body: bytes) -> None:
    if len(body) > REQUEST_BODY_LIMIT:
        raise errors.ApiError(
            413, "RequestEntityTooLarge", f"Request entity too large: limit is {REQUEST_BODY_LIMIT}"
        )
