"""The shared observation's rules on their own (loop time, via looptime): one list per scope per period,
a GET after our own write or for a name the list lacks, a failed list degrading to GETs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.gcp.snapshots import Snapshots

SCOPE = ("p", "urlMaps", None)


class FakeCollection:
    """What a collection holds, and how often it was listed / read by name."""

    def __init__(self, **items: Any) -> None:
        self.items: dict[str, Any] = dict(items)
        self.lists = 0
        self.gets: list[str] = []
        self.fail_lists = False
        self.list_delay = 0.0

    async def list_all(self) -> Mapping[str, Any]:
        self.lists += 1
        await asyncio.sleep(self.list_delay)
        if self.fail_lists:
            raise CloudError(Fault.PERMISSION_DENIED, "list denied")
        return dict(self.items)

    def get(self, name: str) -> Any:
        async def fetch() -> Any:
            self.gets.append(name)
            return self.items.get(name)

        return fetch


async def read(shared: Snapshots, coll: FakeCollection, name: str) -> Any:
    return await shared.read(SCOPE, name, coll.list_all, coll.get(name))


@pytest.mark.looptime
async def test_one_list_answers_every_read_of_the_period() -> None:
    shared, coll = Snapshots(period=60), FakeCollection(a=1, b=2)
    assert [await read(shared, coll, n) for n in ("a", "b", "a")] == [1, 2, 1]
    assert (coll.lists, coll.gets) == (1, [])


@pytest.mark.looptime
async def test_concurrent_reads_share_one_list() -> None:
    shared, coll = Snapshots(period=60), FakeCollection(a=1, b=2)
    coll.list_delay = 1.0
    assert await asyncio.gather(*(read(shared, coll, n) for n in ("a", "b") * 10)) == [1, 2] * 10
    assert coll.lists == 1


@pytest.mark.looptime
async def test_an_out_of_band_change_is_seen_by_the_next_periods_list() -> None:
    shared, coll = Snapshots(period=60), FakeCollection(a=1)
    assert await read(shared, coll, "a") == 1
    coll.items["a"] = "changed"
    await asyncio.sleep(59)
    assert await read(shared, coll, "a") == 1  # within the period: the shared answer
    await asyncio.sleep(1)
    assert await read(shared, coll, "a") == "changed"
    assert coll.lists == 2


@pytest.mark.looptime
async def test_our_write_makes_the_next_read_a_get_then_shared_again() -> None:
    shared, coll = Snapshots(period=60), FakeCollection(a=1)
    await read(shared, coll, "a")
    shared.invalidate(SCOPE, "a")
    coll.items["a"] = 2
    assert await read(shared, coll, "a") == 2
    assert await read(shared, coll, "a") == 2
    assert (coll.lists, coll.gets) == (1, ["a"])


@pytest.mark.looptime
async def test_a_get_that_began_before_our_write_does_not_settle_it() -> None:
    shared, coll = Snapshots(period=60), FakeCollection(a=1)
    await read(shared, coll, "a")
    shared.invalidate(SCOPE, "a")
    release = asyncio.Event()

    async def slow_get() -> Any:
        await release.wait()
        return "before the write"

    pending = asyncio.create_task(shared.read(SCOPE, "a", coll.list_all, slow_get))
    await asyncio.sleep(0)
    shared.invalidate(SCOPE, "a")  # our write, while that GET is in flight
    coll.items["a"] = "after the write"
    release.set()
    assert await pending == "before the write"
    assert await read(shared, coll, "a") == "after the write"


@pytest.mark.looptime
async def test_a_name_missing_from_the_list_is_read_by_name_once_per_period() -> None:
    shared, coll = Snapshots(period=60), FakeCollection()
    assert await read(shared, coll, "theirs") is None
    assert await read(shared, coll, "theirs") is None
    assert coll.gets == ["theirs"]
    coll.items["theirs"] = "created by someone else"
    await asyncio.sleep(60)
    assert await read(shared, coll, "theirs") == "created by someone else"


@pytest.mark.looptime
async def test_a_failed_list_falls_back_to_gets_for_the_period() -> None:
    shared, coll = Snapshots(period=60), FakeCollection(a=1)
    coll.fail_lists = True
    assert await read(shared, coll, "a") == 1
    assert await read(shared, coll, "a") == 1
    assert (coll.lists, coll.gets) == (1, ["a"])
    coll.fail_lists = False
    await asyncio.sleep(60)
    assert await read(shared, coll, "a") == 1
    assert (coll.lists, coll.gets) == (2, ["a"])


@pytest.mark.looptime
async def test_period_zero_is_a_get_per_read() -> None:
    shared, coll = Snapshots(period=0), FakeCollection(a=1)
    assert [await read(shared, coll, "a") for _ in range(3)] == [1, 1, 1]
    assert (coll.lists, coll.gets) == (0, ["a", "a", "a"])


@pytest.mark.looptime
async def test_items_merge_the_list_with_what_was_read_by_name() -> None:
    shared, coll = Snapshots(period=60), FakeCollection(a=1)
    await read(shared, coll, "a")
    coll.items["b"] = 2
    shared.invalidate(SCOPE, "b")  # we created b
    await read(shared, coll, "b")
    assert sorted(await shared.items(SCOPE, coll.list_all)) == [1, 2]
    assert coll.lists == 1
