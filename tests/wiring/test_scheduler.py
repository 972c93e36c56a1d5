"""The resync scheduler on loop time (looptime): due times, replacement, spread, bounded concurrency."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import pytest

from iap_operator.engine.outcome import Event
from iap_operator.wiring.events import MESSAGE_LIMIT, summarise
from iap_operator.wiring.scheduler import Scheduler, first_delay, next_delay


@pytest.fixture
async def started() -> AsyncIterator[Callable[[Scheduler], None]]:
    tasks: list[asyncio.Task[None]] = []
    yield lambda s: tasks.append(asyncio.create_task(s.run()))
    for task in tasks:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.looptime
async def test_each_resync_starts_when_due_and_once(started: Callable[[Scheduler], None]) -> None:
    loop = asyncio.get_running_loop()
    ran: list[tuple[str, float]] = []

    async def resync(key: str) -> None:
        ran.append((key, loop.time()))

    scheduler = Scheduler(resync)
    started(scheduler)
    scheduler.schedule("a", 30)
    scheduler.schedule("b", 10)
    scheduler.schedule("a", 20)  # replaces a's first schedule: one entry per object
    await asyncio.sleep(100)
    assert ran == [("b", 10), ("a", 20)]
    assert len(scheduler) == 0


@pytest.mark.looptime
async def test_a_forgotten_object_is_not_resynced(started: Callable[[Scheduler], None]) -> None:
    ran: list[str] = []

    async def resync(key: str) -> None:
        ran.append(key)

    scheduler = Scheduler(resync)
    started(scheduler)
    scheduler.schedule("gone", 5)
    scheduler.schedule("kept", 6)
    scheduler.forget("gone")
    await asyncio.sleep(10)
    assert ran == ["kept"]


@pytest.mark.looptime
async def test_at_most_concurrency_resyncs_run_at_once(started: Callable[[Scheduler], None]) -> None:
    running, peak, done = 0, 0, 0

    async def resync(key: str) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(1)
        running -= 1
        done += 1

    scheduler = Scheduler(resync, concurrency=3)
    started(scheduler)
    for i in range(10):
        scheduler.schedule(f"o{i}", 0)
    await asyncio.sleep(3.5)
    assert peak == 3  # three at a time: 3 s for nine of them
    assert done == 9
    await asyncio.sleep(1)
    assert done == 10


@pytest.mark.looptime
async def test_a_failing_resync_does_not_stop_the_others(started: Callable[[Scheduler], None]) -> None:
    ran: list[str] = []

    async def resync(key: str) -> None:
        if key == "bad":
            raise RuntimeError("boom")
        ran.append(key)

    scheduler = Scheduler(resync)
    started(scheduler)
    scheduler.schedule("bad", 1)
    scheduler.schedule("good", 2)
    await asyncio.sleep(3)
    assert ran == ["good"]


def test_resyncs_of_a_burst_spread_over_the_period() -> None:
    rng = random.Random(7)
    firsts = sorted(first_delay(600, rng) for _ in range(1000))
    assert firsts[0] >= 300
    assert firsts[-1] <= 600
    # spread: every 30-second slice of (300, 600] gets a share, none more than twice the even share
    slices = [sum(1 for d in firsts if 300 + 30 * i < d <= 330 + 30 * i) for i in range(10)]
    assert min(slices) > 50, slices
    assert max(slices) < 200, slices
    nexts = [next_delay(600, rng) for _ in range(1000)]
    assert min(nexts) >= 540
    assert max(nexts) <= 660


def test_a_creation_is_summarised_in_one_event_per_reason() -> None:
    kinds = ("Address", "BackendService", "UrlMap", "TargetHttpsProxy", "ForwardingRule", "SslCertificate")
    events = [Event("Created", f"created {kind} web") for kind in kinds]
    events += [Event("ServiceAgentReady", "IAP service agent x is ready")]
    events += [Event("Updated", "granted roles/run.invoker to y on service")]
    events += [Event("Created", "created NEG web")]
    summary = summarise(events)
    assert [e.reason for e in summary] == ["Created", "ServiceAgentReady", "Updated"]
    created = summary[0].message
    assert created.startswith("created ")
    assert all(f"created {kind} web" in created for kind in kinds)
    assert "created NEG web" in created


def test_failures_stay_single_and_long_summaries_say_what_they_leave_out() -> None:
    failure = Event("ApiError", "compute said 500", warning=True)
    many = [Event("Deleted", f"deleted BackendService {'x' * 40}-{i}") for i in range(100)]
    summary = summarise([failure, *many])
    assert summary[0] == failure
    assert len(summary[1].message) <= MESSAGE_LIMIT
    assert summary[1].message.endswith("more")
    assert "-0" in summary[1].message
