"""Attach to / detach from a shared balancer's URL map: read, compute (urlmap_rules), write with the
fingerprint, and on a stale fingerprint read again (docs/shared-balancer.md).

A step of the attach topology: it depends on the attached service's backend service (which the host
rule names) and on nothing of the balancer but its URL map existing. Crash-safe by construction: the
edit is one write carrying its own marks, and it is recomputed from what GCP holds on every attempt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from iap_operator.engine import urlmap_rules
from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.ports import UrlMapRulesPort

ATTEMPTS = 8  # concurrent editors of one map: each conflict means someone else's edit went through


class Result(enum.StrEnum):
    WRITTEN = "Written"
    UP_TO_DATE = "UpToDate"
    CONFLICT = "HostConflict"  # a host of ours is someone else's: nothing written
    TAKEN = "ManagementConflict"  # a path matcher with our name is someone else's: nothing written
    NO_MAP = "NotFound"  # the balancer's URL map does not exist (yet, or any more)


@dataclass(frozen=True)
class Edit:
    result: Result
    writes: int = 0
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
