"""The process-wide token bucket in front of every Google API call (loop time, via looptime)."""

from __future__ import annotations

import asyncio

import pytest

from iap_operator.gcp.ratelimit import TokenBucket


@pytest.mark.looptime
async def test_calls_beyond_the_burst_are_spread_at_the_rate() -> None:
    bucket = TokenBucket(rate=5, burst=2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    stamps = []
    for _ in range(7):
        await bucket.acquire()
        stamps.append(loop.time() - start)
    assert stamps[:2] == [0, 0]  # the burst goes at once
    assert stamps[-1] == pytest.approx(1.0)  # then 5 more at 5 per second


@pytest.mark.looptime
async def test_concurrent_callers_share_one_budget() -> None:
    bucket = TokenBucket(rate=10, burst=1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(bucket.acquire() for _ in range(11)))
    assert loop.time() - start == pytest.approx(1.0)


async def test_zero_rate_is_unlimited() -> None:
    bucket = TokenBucket(rate=0, burst=1)
    await asyncio.wait_for(asyncio.gather(*(bucket.acquire() for _ in range(1000))), timeout=1)
