"""Label and field selectors of list/watch requests (`?labelSelector=`, `?fieldSelector=`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=]+)\s*(==|!=|=)\s*([^\s]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")


class SelectorError(ValueError):
    """A selector that cannot be parsed (HTTP 400)."""


def _terms(selector: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b` -> [`a in (x,y)`, `b`]."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def _label_term(term: str) -> Predicate:
    if match := _SET_TERM.match(term):
        key, operator, raw = match.groups()
        values = {value.strip() for value in raw.split(",") if value.strip()}
        if operator == "in":
            return lambda obj: _labels(obj).get(key) in values
        return lambda obj: _labels(obj).get(key) not in values
    if match := _EQ_TERM.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda obj: _labels(obj).get(key) != value
        return lambda obj: _labels(obj).get(key) == value
    if match := _EXISTS_TERM.match(term):
        negated, key = match.groups()
        if negated:
            return lambda obj: key not in _labels(obj)
        return lambda obj: key in _labels(obj)
    raise SelectorError(f"unable to parse requirement: {term!r}")


def parse_label_selector(selector: str) -> Predicate:
    predicates = [_label_term(term) for term in _terms(selector)]
    return lambda obj: all(predicate(obj) for predicate in predicates)


def field_value(obj: Mapping[str, Any], path: str) -> str | None:
    """A dotted path's value as the API server compares it (strings; missing fields are empty)."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool):
        return "true" if node else "false"
    return None if isinstance(node, Mapping | list) else str(node)


def _field_term(term: str) -> Predicate:
    match = _EQ_TERM.match(term)
    if not match:
        raise SelectorError(f"invalid field selector: {term!r}")
    path, operator, value = match.groups()
    if operator == "!=":
        return lambda obj: (field_value(obj, path) or "") != value
    return lambda obj: (field_value(obj, path) or "") == value


def parse_field_selector(selector: str) -> Predicate:
    """Equality-based terms on any dotted path (metadata.name, metadata.namespace, involvedObject.uid…)."""
    predicates = [_field_term(term) for term in _terms(selector)]
    return lambda obj: all(predicate(obj) for predicate in predicates)
