"""Attach to / detach from a shared balancer's URL map: read, compute (urlmap_rules), write with the
fingerprint, and on a stale fingerprint read again (docs/shared-balancer.md).

A step of the attach topology: it depends on the attached service's backend service (which the host
rule names) and on nothing of the balancer but its URL map existing. Crash-safe by construction: the
edit is one write carrying its own marks, and it is recomputed from what GCP holds on every attempt.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field

from iap_operator.engine import urlmap_rules
from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.ports import UrlMapRulesPort

ATTEMPTS = 16  # concurrent editors of one map: each conflict means someone else's edit went through


class Result(enum.StrEnum):
    WRITTEN = "Written"
    UP_TO_DATE = "UpToDate"
    CONFLICT = "HostConflict"  # a host of ours is someone else's: nothing written
    TAKEN = "ManagementConflict"  # a path matcher with our name is someone else's: nothing written
    NO_MAP = "NotFound"  # the balancer's URL map does not exist (yet, or any more)


@dataclass(frozen=True)
class Edit:
    result: Result
    writes: float = 0  # this edit's share of the URL-map writes (a batched write is shared)
    conflicts: int = 0  # 412s on the way (each one is someone else's edit landing first)
    message: str = ""


async def attach(
    port: UrlMapRulesPort, project: str, url_map: str, attachment: urlmap_rules.Attachment
) -> Edit:
    """Make the URL map hold the attachment's host rule and path matcher as wanted."""
    return await _edit(port, project, url_map, attachment, detach=False)


async def detach(
    port: UrlMapRulesPort, project: str, url_map: str, attachment: urlmap_rules.Attachment
) -> Edit:
    """Remove the attachment's host rule and path matcher (a missing map: nothing to remove)."""
    return await _edit(port, project, url_map, attachment, detach=True)


async def _edit(
    port: UrlMapRulesPort,
    project: str,
    url_map: str,
    attachment: urlmap_rules.Attachment,
    *,
    detach: bool,
) -> Edit:
    conflicts = 0
    for _ in range(ATTEMPTS):
        current = await port.read_rules(project, url_map)
        if current is None:
            return Edit(
                Result.UP_TO_DATE if detach else Result.NO_MAP, 0, conflicts, f"URL map {url_map} not found"
            )
        if detach:
            wanted = urlmap_rules.detached(current, attachment)
            if urlmap_rules.patch_body(wanted) == urlmap_rules.patch_body(current):
                return Edit(Result.UP_TO_DATE, 0, conflicts)
        else:
            if found := urlmap_rules.conflicts(current, attachment):
                return Edit(
                    Result.CONFLICT,
                    0,
                    conflicts,
                    f"host {found[0].host} is already served by {found[0].holder}",
                )
            if urlmap_rules.matcher_taken(current, attachment):
                return Edit(
                    Result.TAKEN,
                    0,
                    conflicts,
                    f"path matcher {attachment.matcher} in URL map {url_map} is not ours",
                )
            if urlmap_rules.up_to_date(current, attachment):
                return Edit(Result.UP_TO_DATE, 0, conflicts)
            wanted = urlmap_rules.attached(current, attachment)
        try:
            await port.write_rules(project, url_map, wanted)
        except CloudError as err:
            if err.fault is not Fault.CONFLICT:
                raise
            conflicts += 1
            continue
        return Edit(Result.WRITTEN, 1, conflicts)
    raise CloudError(
        Fault.CONFLICT, f"URL map {url_map} kept changing: {conflicts} stale fingerprints in a row"
    )


# --------------------------------------------------------------------- one writer per URL map, batched


@dataclass
class _Pending:
    attachment: urlmap_rules.Attachment
    detach: bool
    done: asyncio.Future[Edit]


@dataclass
class Batcher:
    """Edits of one URL map from one operator process, applied together: one read and one write for
    everyone who asked while the previous write ran (a URL-map operation takes seconds; N attaches one
    at a time take N of them, and the losers of each race pay a 412 or a 400 besides). Across
    processes and clusters the fingerprint still guards every write."""

    port: UrlMapRulesPort
    _queues: dict[tuple[str, str], list[_Pending]] = field(default_factory=dict)
    _writers: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict)

    async def attach(self, project: str, url_map: str, attachment: urlmap_rules.Attachment) -> Edit:
        return await self._submit(project, url_map, attachment, detach=False)

    async def detach(self, project: str, url_map: str, attachment: urlmap_rules.Attachment) -> Edit:
        return await self._submit(project, url_map, attachment, detach=True)

    async def _submit(
        self, project: str, url_map: str, attachment: urlmap_rules.Attachment, *, detach: bool
    ) -> Edit:
        key = (project, url_map)
        done: asyncio.Future[Edit] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, []).append(_Pending(attachment, detach, done))
        if key not in self._writers:
            self._writers[key] = asyncio.create_task(self._drain(key))
        return await done

    async def _drain(self, key: tuple[str, str]) -> None:
        try:
            while batch := self._queues.pop(key, []):
                try:
                    results = await _edit_many(self.port, key[0], key[1], batch)
                except Exception as exc:  # handed to every waiter, who re-raises it
                    for item in batch:
                        if not item.done.done():  # a waiter whose pass was cancelled
                            item.done.set_exception(exc)
                    continue
                for item, result in zip(batch, results, strict=True):
                    if not item.done.done():
                        item.done.set_result(result)
        finally:
            del self._writers[key]


async def _edit_many(port: UrlMapRulesPort, project: str, url_map: str, batch: list[_Pending]) -> list[Edit]:
    conflicts = 0
    for _ in range(ATTEMPTS):
        current = await port.read_rules(project, url_map)
        if current is None:
            missing = Edit(Result.NO_MAP, 0, conflicts, f"URL map {url_map} not found")
            return [Edit(Result.UP_TO_DATE, 0, conflicts) if p.detach else missing for p in batch]
        wanted: dict[str, object] = dict(current)
        results: list[Edit] = []
        for item in batch:
            if item.detach:
                after = urlmap_rules.detached(wanted, item.attachment)
            elif found := urlmap_rules.conflicts(wanted, item.attachment):
                results.append(
                    Edit(
                        Result.CONFLICT,
                        0,
                        conflicts,
                        f"host {found[0].host} is already served by {found[0].holder}",
                    )
                )
                continue
            elif urlmap_rules.matcher_taken(wanted, item.attachment):
                results.append(
                    Edit(Result.TAKEN, 0, conflicts, f"path matcher {item.attachment.matcher} is not ours")
                )
                continue
            else:
                after = urlmap_rules.attached(wanted, item.attachment)
            changed = urlmap_rules.patch_body(after) != urlmap_rules.patch_body(wanted)
            results.append(Edit(Result.WRITTEN if changed else Result.UP_TO_DATE, 0, conflicts))
            wanted = after
        if not any(r.result is Result.WRITTEN for r in results) or urlmap_rules.patch_body(
            wanted
        ) == urlmap_rules.patch_body(current):
            return [
                Edit(Result.UP_TO_DATE, 0, conflicts) if r.result is Result.WRITTEN else r for r in results
            ]
        try:
            await port.write_rules(project, url_map, wanted)
        except CloudError as err:
            if err.fault is not Fault.CONFLICT:
                raise
            conflicts += 1
            continue
        writers = [r for r in results if r.result is Result.WRITTEN]
        share = 1 / len(writers)
        return [Edit(r.result, share, conflicts) if r.result is Result.WRITTEN else r for r in results]
    raise CloudError(
        Fault.CONFLICT, f"URL map {url_map} kept changing: {conflicts} stale fingerprints in a row"
    )
