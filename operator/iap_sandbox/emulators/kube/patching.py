"""Patch formats of the Kubernetes API: JSON merge patch, strategic merge patch (simplified), JSON patch."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class PatchError(Exception):
    """The patch is malformed (HTTP 400)."""


class PatchTestFailed(Exception):
    """A JSON-patch `test` operation did not hold, or a path is missing (HTTP 422, like kube-apiserver)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, `null` deletes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge treated as a merge patch (as for custom resources); `$`-directives are dropped.

    Lists are replaced, not merged by key: good enough for the kinds served here (no pods/containers).
    """
    return merge_patch(target, _strip_directives(patch))


def _strip_directives(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _strip_directives(val) for key, val in value.items() if not str(key).startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer: {pointer!r}")
    return [_unescape(token) for token in pointer[1:].split("/")]


def _index(container: list[Any], token: str, *, for_insert: bool) -> int:
    if for_insert and token == "-":  # noqa: S105 -- the JSON-pointer "append" index, not a secret
        return len(container)
    if not token.isdigit():
        raise PatchTestFailed(f"invalid array index: {token!r}")
    index = int(token)
    limit = len(container) if for_insert else len(container) - 1
    if index > limit:
        raise PatchTestFailed(f"array index out of range: {index}")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_insert=False)]
        else:
            raise PatchTestFailed(f"path not found: /{'/'.join(tokens)}")
    return node


def _get(doc: Any, pointer: str) -> Any:
    tokens = _split(pointer)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchTestFailed(f"path not found: {pointer}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_insert=False)]
    raise PatchTestFailed(f"path not found: {pointer}")


def _remove(doc: Any, pointer: str) -> Any:
    tokens = _split(pointer)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchTestFailed(f"path not found: {pointer}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, for_insert=False))
    raise PatchTestFailed(f"path not found: {pointer}")


def _add(doc: Any, pointer: str, value: Any, *, replace: bool = False) -> Any:
    tokens = _split(pointer)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchTestFailed(f"path not found: {pointer}")
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, for_insert=False)] = value
        else:
            parent.insert(_index(parent, last, for_insert=True), value)
    else:
        raise PatchTestFailed(f"path not found: {pointer}")
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test) on a deep copy of `target`."""
    if not isinstance(ops, Sequence) or isinstance(ops, str | bytes):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, Mapping) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON-patch operation: {op!r}")
        kind, path = op["op"], str(op["path"])
        if kind in {"add", "replace", "test"} and "value" not in op:
            raise PatchError(f"the {kind!r} operation needs a value: {op!r}")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), replace=True)
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchTestFailed(f"testing value {path} failed")
        elif kind in {"move", "copy"}:
            source = str(op.get("from", ""))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, path, value)
        else:
            raise PatchError(f"unknown JSON-patch operation: {kind!r}")
    return doc
