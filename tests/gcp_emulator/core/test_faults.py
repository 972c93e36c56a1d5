"""Fault rules, one test per kind: count, probability (seeded), Retry-After, latency, method+path regex."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest

from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import ADDRESSES


async def _status(http: aiohttp.ClientSession, method: str = "GET", path: str = ADDRESSES) -> int:
    async with http.request(method, path, json={"name": "ip"} if method == "POST" else None) as response:
        return response.status


async def test_count(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    emu.add_fault(path="/global/addresses$", status=503, count=2)
    assert [await _status(http) for _ in range(4)] == [503, 503, 200, 200]
    (rule,) = emu.world.faults.describe()
    assert (rule["fired"], rule["remaining"]) == (2, 0)


async def test_probability_with_a_seeded_rng(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    emu.add_fault(status=500, probability=0.5, seed=7)
    statuses = [await _status(http) for _ in range(20)]
    rng = random.Random(7)
    assert statuses == [500 if rng.random() < 0.5 else 200 for _ in range(20)]
    assert 0 < statuses.count(500) < 20


async def test_retry_after_and_google_body(http: aiohttp.ClientSession) -> None:
    rule = {
        "status": 429,
        "retryAfter": 7,
        "count": 1,
        "message": "Quota exceeded for quota metric 'Queries'.",
    }
    async with http.post("/emulator/v1/faults", json=rule) as response:
        ids = (await response.json())["ids"]
    async with http.get(ADDRESSES) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "7"
        error = (await response.json())["error"]
    assert "status" not in error  # a compute path: compute's envelope (recorded)
    assert error["message"] == "Quota exceeded for quota metric 'Queries'."
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    async with http.get("/emulator/v1/faults") as response:
        (described,) = (await response.json())["faults"]
    assert described["id"] == ids[0]
    assert described["retryAfter"] == 7


async def test_custom_error_body(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    body = {
        "error": {"code": 403, "errors": [{"domain": "global", "reason": "forbidden"}], "message": "nope"}
    }
    emu.add_fault(status=403, body=body, count=1)
    async with http.get(ADDRESSES) as response:
        assert response.status == 403
        assert await response.json() == body


@pytest.mark.looptime
async def test_added_latency(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    emu.add_fault(status=0, latency=30.0, count=1)  # status 0: slow, then served normally
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _status(http) == 200
    assert loop.time() - started == pytest.approx(30.0, abs=0.5)
    started = loop.time()
    assert await _status(http) == 200
    assert loop.time() - started < 1.0


@pytest.mark.looptime
async def test_latency_then_error(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    emu.add_fault(status=504, latency=60.0, count=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _status(http) == 504
    assert loop.time() - started == pytest.approx(60.0, abs=0.5)


async def test_method_and_path_regex(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    emu.add_fault(method="POST", path=r"/global/addresses$", status=409)
    assert await _status(http, "GET") == 200
    assert await _status(http, "POST") == 409
    assert await _status(http, "GET", f"{ADDRESSES}/ip") == 404  # path does not match: the real answer
    assert await _status(http, "POST") == 409  # unlimited count


async def test_delete_one_and_clear(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    first = emu.add_fault(method="GET", status=500)
    emu.add_fault(method="POST", status=500)
    async with http.delete(f"/emulator/v1/faults/{first}") as response:
        assert response.status == 200
    assert await _status(http) == 200
    assert await _status(http, "POST") == 500
    async with http.delete("/emulator/v1/faults") as response:
        assert response.status == 200
    assert await _status(http, "POST") == 200
    async with http.delete("/emulator/v1/faults/fault-999") as response:
        assert response.status == 404


async def test_bad_rule_is_refused(http: aiohttp.ClientSession) -> None:
    async with http.post("/emulator/v1/faults", json={"probability": 2}) as response:
        assert response.status == 400
    async with http.post("/emulator/v1/faults", json={"unknown": 1}) as response:
        assert response.status == 400
