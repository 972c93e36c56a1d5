"""Running the blocking client calls: a shared thread pool, error translation, the metrics hook."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.gcp.config import OnCall
from iap_operator.gcp.errors import call_code, to_cloud_error
from iap_operator.gcp.ratelimit import TokenBucket

log = logging.getLogger(__name__)

T = TypeVar("T")

# Attempts at an idempotent poll (operation GET/wait) that failed transiently: the mutation behind it
# already happened, so losing its outcome to one dropped connection would only cause needless rework.
POLL_ATTEMPTS = 4
MAX_POLL_PAUSE = 30.0


class Caller:
    """Runs `fn(*args, **kwargs)` in the executor; raises `CloudError` for every API failure."""

    def __init__(self, executor: Executor, on_call: OnCall, limiter: TokenBucket | None = None) -> None:
        self._executor = executor
        self._on_call = on_call
        self._limiter = limiter or TokenBucket(rate=0, burst=1)

    async def __call__(
        self, service: str, method: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> T:
        loop = asyncio.get_running_loop()
        await self._limiter.acquire()
        try:
            result = await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        except Exception as exc:
            self._record(service, method, call_code(exc))
            error = to_cloud_error(exc)
            if error is None:
                raise
            log.debug("%s %s failed: %s %s", service, method, error.fault, error.message)
            raise error from exc
        self._record(service, method, "200")
        return result

    async def poll(self, service: str, method: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Like `__call__`, retrying transient failures a few times (for idempotent reads only)."""
        delay = 0.5
        for attempt in range(1, POLL_ATTEMPTS + 1):
            try:
                return await self(service, method, fn, *args, **kwargs)
            except CloudError as err:
                if err.fault is not Fault.TRANSIENT or attempt == POLL_ATTEMPTS:
                    raise
                await asyncio.sleep(
                    min(err.retry_after if err.retry_after is not None else delay, MAX_POLL_PAUSE)
                )
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    def _record(self, service: str, method: str, code: str) -> None:
        try:
            self._on_call(service, method, code)
        except Exception:  # a metrics failure must never fail the call
            log.exception("on_call hook failed for %s %s", service, method)
