"""Waiting for asynchronous outcomes (another process acting on the emulated API) with a bounded deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], within: float = 30.0, every: float = 0.05) -> T:
    """The first truthy result of `probe()`; fails with the last result after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {within}s; last result: {result!r}")
        await asyncio.sleep(every)
