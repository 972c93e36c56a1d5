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
    """`refresh` the operation with a growing pause until `done`; TRANSIENT when `timeout` passes first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = 0.25
    while not done(operation):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise CloudError(Fault.TRANSIENT, f"operation {name} is still running")
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 5.0)
        operation = await refresh(operation)
    return operation


def operation_error(code: int, message: str, name: str) -> CloudError:
    """A longrunning `error` (google.rpc.Status) as CloudError."""
    facts = ErrorFacts(
        http_status=None, status=status_name(code), message=message or f"operation {name} failed"
    )
    return CloudError(classify(facts), facts.message)
