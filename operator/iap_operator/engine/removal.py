"""Finding and deleting compute resources this resource owns, in reverse dependency order as the plan
derives it (teardown and orphans). What exists is found on GCP (`discover`): a lost status loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from iap_operator.engine.errors import CloudError
from iap_operator.engine.identity import Ownership
from iap_operator.engine.outcome import Event
from iap_operator.engine.plan import regional_kinds, teardown_levels
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import Key, Kind, Observed


@dataclass
class Removal:
    events: list[Event] = field(default_factory=list)
    errors: list[CloudError] = field(default_factory=list)
    left: list[Key] = field(default_factory=list)  # not deleted (failed, or waiting on a failed level)


async def find_owned(cloud: Cloud, ownership: Ownership, project: str, key: Key) -> Observed[Any] | None:
    found: Observed[Any] | None = await cloud.compute(key.kind).find(project, key)
    return found if found is not None and ownership.owns(found.marks) else None


async def discover(cloud: Cloud, ownership: Ownership, project: str, regions: Sequence[str]) -> set[Key]:
    """Every compute resource named in our lineage (whether ours is decided by its marks, later): the
    global kinds once, the regional ones in each of `regions`."""
    regional = regional_kinds()
    wheres = [
        (kind, where)
        for level in teardown_levels()
        for kind in level
        for where in (regions if kind in regional else [None])
    ]

    async def names(kind: Kind, where: str | None) -> set[Key]:
        found = await cloud.inventory.names(project, kind, where, ownership.name_pattern())
        return {Key(kind, name, where) for name in found}

    found = await asyncio.gather(*(names(k, w) for k, w in wheres))
    return set().union(*found)


async def delete_owned(
    cloud: Cloud,
    ownership: Ownership,
    project: str,
    keys: list[Key],
    levels: tuple[tuple[Kind, ...], ...] | None = None,
) -> Removal:
    """Delete what of `keys` exists and is ours, level by level (`plan.teardown_levels`: whatever refers
    to a resource goes before it); 404 is done, anything not ours is never touched."""
    removal = Removal()
    levels = levels or teardown_levels()
    for i, level in enumerate(levels):
        batch = [k for k in keys if k.kind in level]

        async def one(key: Key) -> None:
            if await find_owned(cloud, ownership, project, key) is None:
                return
            await cloud.compute(key.kind).delete(project, key)
            removal.events.append(Event("Deleted", f"deleted {key.kind} {key.name}"))

        results = await asyncio.gather(*(one(k) for k in batch), return_exceptions=True)
        failed = [(k, r) for k, r in zip(batch, results, strict=True) if isinstance(r, BaseException)]
        for key, exc in failed:
            if not isinstance(exc, CloudError):
                raise exc
            removal.errors.append(exc)
            removal.left.append(key)
        if failed:  # the next levels are still referenced by this one
            removal.left += [k for k in keys if any(k.kind in later for later in levels[i + 1 :])]
            break
    return removal
