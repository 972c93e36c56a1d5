"""Polling `google.longrunning` operations (Cloud Run, Service Usage) until done, within a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.gcp.errors import ErrorFacts, classify, status_name

Op = TypeVar("Op")


async def poll_until_done(
    operation: Op,
    *,
    done: Callable[[Op], bool],
    refresh: Callable[[Op], Awaitable[Op]],
    name: str,
    timeout: float,  # noqa: ASYNC109 - a deadline for the polling, not for one await
) -> Op:
    """`refresh` the operation until `done`; TRANSIENT when `timeout` passes first.

    The pause is a tenth of the time waited so far (0.1 s to 5 s): an operation is noticed at most ~10%
    after it finished, with a logarithmic number of polls.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    while not done(operation):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise CloudError(Fault.TRANSIENT, f"operation {name} is still running")
        pause = min(max(0.1, (loop.time() - started) / 10), 5.0)
        await asyncio.sleep(min(pause, remaining))
        operation = await refresh(operation)
    return operation


def operation_error(code: int, message: str, name: str) -> CloudError:
    """A longrunning `error` (google.rpc.Status) as CloudError."""
    facts = ErrorFacts(
        http_status=None, status=status_name(code), message=message or f"operation {name} failed"
    )
    return CloudError(classify(facts), facts.message)
