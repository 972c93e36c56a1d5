"""`meta.k8s.io/v1` Table responses, which `kubectl get` asks for (Name, printer columns, Age)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .kinds import KindInfo

_FILTER = re.compile(r'^\?\(@\.([\w.-]+)\s*==\s*["\']([^"\']*)["\']\)$')
_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int((datetime.datetime.now(datetime.UTC) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def json_path(obj: Any, path: str) -> Any:
    """The first value at a printer-column JSONPath: `.a.b`, `.a[0]`, `.a[?(@.type=="Ready")].b`."""
    nodes: list[Any] = [obj]
    for name, bracket in _SEGMENT.findall(path.strip().lstrip("{").rstrip("}")):
        found: list[Any] = []
        for node in nodes:
            if name:
                if isinstance(node, Mapping) and name in node:
                    found.append(node[name])
            elif isinstance(node, list):
                if bracket.isdigit() and int(bracket) < len(node):
                    found.append(node[int(bracket)])
                elif bracket == "*":
                    found.extend(node)
                elif match := _FILTER.match(bracket):
                    key, value = match.groups()
                    found.extend(item for item in node if str(json_path(item, "." + key)) == value)
        nodes = found
    return nodes[0] if nodes else None


def _cell(value: Any, column: Mapping[str, Any]) -> Any:
    if value is None:
        return "<none>" if column.get("type") != "date" else "<unknown>"
    if column.get("type") == "date":
        return _age(str(value))
    if isinstance(value, Mapping | list):
        return str(value)
    return value


def table(info: KindInfo, objs: Sequence[Mapping[str, Any]], resource_version: int | None) -> dict[str, Any]:
    columns: list[dict[str, Any]] = [{"name": "Name", "type": "string", "format": "name", "priority": 0}]
    custom = [dict(column) for column in info.printer_columns]
    if not custom:
        custom = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    columns += [
        {
            "name": column["name"],
            "type": "string" if column.get("type") == "date" else column.get("type", "string"),
            "format": column.get("format", ""),
            "description": column.get("description", ""),
            "priority": column.get("priority", 0),
        }
        for column in custom
    ]
    rows = [
        {
            "cells": [obj["metadata"]["name"]]
            + [_cell(json_path(obj, column["jsonPath"]), column) for column in custom],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            },
        }
        for obj in objs
    ]
    metadata = {} if resource_version is None else {"resourceVersion": str(resource_version)}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    }
