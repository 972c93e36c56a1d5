"""Running the blocking client calls: a shared thread pool, per-call retries, the write fence, metrics.

Every Google API call of the adapters goes through `Caller`. A call is attempted, and retried on transient
failures when it is safe to repeat (`retries.repeatable`) within its `RetryPolicy` and the process-wide
`RetryBudget`; every attempt waits for the rate limiter and reaches the `on_call` hook. The client
libraries' own retries stay off (`retry=None` at every call site): one retry layer, one budget.

A write is attempted only while the write gate (`GcpConfig.may_write`, the leader's lease) is open,
checked on the worker thread immediately before the request goes out. A closed gate raises `WriteFenced`,
a *cancellation*: the pass stops where it is, and neither the engine nor kopf records or reports anything
for it (a failure would be written to the object by an instance that is no longer the leader).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.gcp.config import OnCall, WriteGate, always_open, ignore_call
from iap_operator.gcp.errors import call_code, to_cloud_error
from iap_operator.gcp.ratelimit import TokenBucket
from iap_operator.gcp.retries import RetryBudget, RetryPolicy, is_read, repeatable

log = logging.getLogger(__name__)

T = TypeVar("T")


class WriteFenced(asyncio.CancelledError):
    """A write was refused because this instance no longer holds the leader lease: the pass is cancelled."""

    def __init__(self, service: str, method: str) -> None:
        super().__init__(f"{service} {method} not sent: this instance is not the leader")
        self.service = service
        self.method = method


class _Refused(Exception):
    pass


class _Failed(Exception):
    """Internal: one attempt's error and its metrics code."""

    def __init__(self, error: CloudError, code: str) -> None:
        super().__init__(error.message)
        self.error = error
        self.code = code


@dataclass(frozen=True)
class _Call(Generic[T]):
    service: str
    method: str
    fn: Callable[..., T]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    write: bool  # fenced by the write gate
    safe: bool  # may be sent again after a transient failure
    deadline: float  # loop time after which no attempt starts


class Caller:
    """Runs `fn(*args, **kwargs)` in the executor; raises `CloudError` for every API failure."""

    def __init__(
        self,
        executor: Executor,
        on_call: OnCall,
        limiter: TokenBucket | None = None,
        *,
        policy: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        may_write: WriteGate = always_open,
        on_retry: OnCall = ignore_call,
        on_refused: OnCall = ignore_call,
        rng: random.Random | None = None,
    ) -> None:
        self._executor = executor
        self._on_call = on_call
        self._limiter = limiter or TokenBucket(rate=0, burst=1)
        self._policy = policy or RetryPolicy()
        self._budget = budget or RetryBudget()
        self._may_write = may_write
        self._on_retry = on_retry
        self._on_refused = on_refused
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    async def __call__(
        self, service: str, method: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> T:
        """One API call, retried on transient failures when it is safe to repeat."""
        loop = asyncio.get_running_loop()
        call = _Call(
            service,
            method,
            fn,
            args,
            kwargs,
            write=not is_read(method),
            safe=repeatable(service, method, kwargs),
            deadline=loop.time() + self._policy.deadline,
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._attempt(call)
            except _Failed as failed:
                pause = self._retry_pause(call, failed.error, attempt)
                if pause is None:
                    raise failed.error from failed.__cause__
                self._hook(self._on_retry, call, failed.code)
                log.debug("%s %s: %s; attempt %d in %.2fs", service, method, failed.code, attempt + 1, pause)
                await asyncio.sleep(pause)
                continue
            self._budget.succeeded(loop.time())
            return result

    async def poll(self, service: str, method: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """A read of a long-running operation: the same retries as any read."""
        if not is_read(method):
            raise ValueError(f"poll is for reads; {method} is a write")
        return await self(service, method, fn, *args, **kwargs)

    async def _attempt(self, call: _Call[T]) -> T:
        await self._limiter.acquire()

        def fenced() -> T:
            # On the worker thread, right before the request: the gate may have closed while it queued.
            if call.write and not self._may_write():
                raise _Refused
            return call.fn(*call.args, **call.kwargs)

        try:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, fenced)
        except _Refused:
            self._hook(self._on_refused, call, "fenced")
            fenced_error = WriteFenced(call.service, call.method)
            log.warning("%s; the pass is cancelled", fenced_error)
            raise fenced_error from None
        except Exception as exc:
            code = call_code(exc)
            self._hook(self._on_call, call, code)
            error = to_cloud_error(exc)
            if error is None:
                raise
            log.debug("%s %s failed: %s %s", call.service, call.method, error.fault, error.message)
            raise _Failed(error, code) from exc
        self._hook(self._on_call, call, "200")
        return result

    def _retry_pause(self, call: _Call[Any], error: CloudError, attempt: int) -> float | None:
        """How long to wait before the next attempt; None: give up and raise `error`."""
        if error.fault is not Fault.TRANSIENT:
            return None  # permanent, or a conflict only a fresh read-modify-write can resolve
        now = asyncio.get_running_loop().time()
        pause = self._policy.pause(attempt - 1, error.retry_after, self._rng)
        reason = (
            "unsafe"
            if not call.safe
            else "attempts"
            if attempt >= self._policy.max_attempts
            else "deadline"
            if now + pause > call.deadline  # the pass-level backoff takes over, with the same Retry-After
            else "budget"
            if not self._budget.try_spend(now)
            else None
        )
        if reason is None:
            return pause
        if self._policy.max_attempts > 1:  # a policy without retries refuses nothing
            self._hook(self._on_refused, call, reason)
        return None

    @staticmethod
    def _hook(hook: OnCall, call: _Call[Any], code: str) -> None:
        try:
            hook(call.service, call.method, code)
        except Exception:  # a metrics failure must never fail the call
            log.exception("metrics hook failed for %s %s", call.service, call.method)
