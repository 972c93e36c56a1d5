"""The table of served kinds: lookups by URL (group, version, plural) and by (apiVersion, kind)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .kinds import BUILTIN_KINDS, KindInfo

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key in Kubernetes' version order: GA before beta before alpha, higher numbers first."""
    match = _VERSION.match(version)
    if not match:
        return (3, 0, 0, version)  # non-conventional versions last, alphabetically
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


class KindRegistry:
    def __init__(self, kinds: Iterable[KindInfo] = BUILTIN_KINDS) -> None:
        self._kinds: dict[tuple[str, str, str], KindInfo] = {}
        self.add(kinds)

    def add(self, kinds: Iterable[KindInfo]) -> None:
        for info in kinds:
            self._kinds[(info.group, info.version, info.plural)] = info

    def remove_crd(self, crd_name: str) -> list[KindInfo]:
        gone = [info for info in self._kinds.values() if info.crd_name == crd_name]
        for info in gone:
            del self._kinds[(info.group, info.version, info.plural)]
        return gone

    def all(self) -> list[KindInfo]:
        return list(self._kinds.values())

    def lookup(self, group: str, version: str, plural: str) -> KindInfo | None:
        return self._kinds.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> KindInfo | None:
        group, _, version = api_version.rpartition("/")
        for info in self._kinds.values():
            if (info.group, info.version, info.kind) == (group, version, kind):
                return info
        return None

    def of_crd(self, crd_name: str) -> list[KindInfo]:
        return [info for info in self._kinds.values() if info.crd_name == crd_name]

    def storage_kind(self, info: KindInfo) -> KindInfo:
        """The same resource at its storage version (what the store keeps)."""
        return self._kinds.get((info.group, info.storage_version, info.plural), info)

    def versions(self, group: str) -> list[str]:
        """The served versions of a group, the preferred one first."""
        found = {info.version for info in self._kinds.values() if info.group == group}
        return sorted(found, key=version_priority)

    def groups(self) -> list[str]:
        """Named API groups (the core group "" excluded), in registration order."""
        seen: dict[str, None] = {}
        for info in self._kinds.values():
            if info.group:
                seen.setdefault(info.group, None)
        return list(seen)

    def in_version(self, group: str, version: str) -> list[KindInfo]:
        return [info for info in self._kinds.values() if (info.group, info.version) == (group, version)]
