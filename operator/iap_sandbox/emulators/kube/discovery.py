"""Discovery documents (/api, /apis, /apis/GROUP, /api/v1, /apis/GROUP/VERSION) from the kind registry."""

from __future__ import annotations

from typing import Any

from .kinds import ALL_VERBS, KindInfo
from .registry import KindRegistry

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-iap-operator-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "apiVersion": "v1", "versions": ["v1"], "serverAddressByClientCIDRs": []}


def _group(registry: KindRegistry, group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in registry.versions(group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(registry: KindRegistry) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(registry, group) for group in registry.groups()],
    }


def api_group(registry: KindRegistry, group: str) -> dict[str, Any] | None:
    if group not in registry.groups():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(registry, group)}


def _entries(info: KindInfo) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": sorted(ALL_VERBS),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subresources = [
        {
            "name": f"{info.plural}/{sub}",
            "singularName": "",
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": ["get", "patch", "update"],
        }
        for sub in sorted(info.subresources)
    ]
    return [entry, *subresources]


def resource_list(registry: KindRegistry, group: str, version: str) -> dict[str, Any] | None:
    kinds = registry.in_version(group, version)
    if not kinds:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for info in kinds for entry in _entries(info)],
    }


def root_paths(registry: KindRegistry) -> dict[str, Any]:
    paths = {"/api", "/api/v1", "/apis", "/version"}
    for group in registry.groups():
        paths.add(f"/apis/{group}")
        paths.update(f"/apis/{group}/{version}" for version in registry.versions(group))
    return {"paths": sorted(paths)}
