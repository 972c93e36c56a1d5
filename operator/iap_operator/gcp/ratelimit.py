"""A process-wide token bucket for Google API calls, so many objects reconciling at once stay under quota."""

from __future__ import annotations

import asyncio


class TokenBucket:
    """`rate` calls per second on average, bursts of up to `burst`; `rate <= 0` means unlimited."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp: float | None = None
        self._lock: asyncio.Lock | None = None

    async def acquire(self) -> None:
        if self.rate <= 0:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # waiters are served in order
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                elapsed = 0.0 if self._stamp is None else now - self._stamp
                self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
                self._stamp = now
                if self._tokens >= 1 - 1e-6:  # float dust must not stall the bucket
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)
