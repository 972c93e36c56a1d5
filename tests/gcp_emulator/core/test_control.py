"""The control API under /emulator/v1/ (over HTTP) and its in-process twin (`EmulatorHandle`)."""

from __future__ import annotations

import aiohttp

from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import ADDRESSES, PROJECT

ADDRESS_PATH = f"compute/v1/projects/{PROJECT}/global/addresses/ip"


async def _insert_address(http: aiohttp.ClientSession, name: str = "ip") -> None:
    async with http.post(ADDRESSES, json={"name": name, "labels": {"owner": "abc"}}) as response:
        assert response.status == 200


async def test_state_has_resources_by_api_path(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    await _insert_address(http)
    async with http.get("/emulator/v1/state") as response:
        state = await response.json()
    async with http.get(f"{ADDRESSES}/ip") as response:
        assert state[ADDRESS_PATH] == await response.json()  # exactly as the API's GET returns it
    policy = state[f"compute/v1/projects/{PROJECT}/global/backendServices/bs:iamPolicy"]
    assert policy["bindings"][0]["members"] == ["user:ops@example.com"]
    assert emu.state() == state

    async with http.get(
        "/emulator/v1/state", params={"prefix": "compute/v1/projects/demo-project/global/addresses"}
    ) as r:
        assert list(await r.json()) == [ADDRESS_PATH]
    async with http.get("/emulator/v1/state", params={"operations": "true"}) as response:
        with_ops = await response.json()
    assert any("/global/operations/operation-" in path for path in with_ops)


async def test_requests_log_sizes_not_bodies(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    await _insert_address(http)
    async with http.get(f"{ADDRESSES}/missing", params={"prettyPrint": "false"}):
        pass
    async with http.get("/emulator/v1/requests") as response:
        records = (await response.json())["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", ADDRESSES, 200),
        ("GET", f"{ADDRESSES}/missing", 404),
    ]
    first, second = records
    assert first["requestBytes"] > 0
    assert first["responseBytes"] > 0
    assert second["query"] == {"prettyPrint": "false"}
    assert {"started", "duration"} <= set(first)
    assert "abc" not in str(records)  # bodies are never logged
    assert emu.requests() == records

    async with http.delete("/emulator/v1/requests") as response:
        assert response.status == 200
    assert emu.requests() == []


async def test_mutate_merges_and_bumps_versions(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    await _insert_address(http)
    before = emu.state()[ADDRESS_PATH]
    body = {"path": ADDRESS_PATH, "merge": {"description": "by hand", "labels": {"owner": "human"}}}
    async with http.post("/emulator/v1/mutate", json=body) as response:
        assert response.status == 200
        changed = (await response.json())["resource"]
    assert changed["description"] == "by hand"
    assert changed["labels"] == {"owner": "human"}
    assert changed["labelFingerprint"] != before["labelFingerprint"]
    async with http.get(f"{ADDRESSES}/ip") as response:
        assert (await response.json())["description"] == "by hand"

    async with http.post("/emulator/v1/mutate", json={"path": ADDRESS_PATH, "delete": True}) as response:
        assert response.status == 200
    async with http.get(f"{ADDRESSES}/ip") as response:
        assert response.status == 404
    async with http.post("/emulator/v1/mutate", json={"path": ADDRESS_PATH, "merge": {}}) as response:
        assert response.status == 404


async def test_mutate_in_process(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    await _insert_address(http)
    emu.mutate(ADDRESS_PATH, merge={"description": None, "labels": None})
    assert "labels" not in emu.state()[ADDRESS_PATH]


async def test_reset_returns_to_the_seed(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    await _insert_address(http)
    emu.add_fault(path="/nothing-matches-this", status=500)
    async with http.post(
        "/emulator/v1/seed", data="projects: [{projectId: extra-project, projectNumber: '42'}]"
    ) as r:
        assert r.status == 200
        assert "extra-project" in (await r.json())["projects"]
    async with http.post("/emulator/v1/reset") as response:
        assert response.status == 200
    state = emu.state()
    assert ADDRESS_PATH not in state
    assert f"compute/v1/projects/{PROJECT}/global/backendServices/bs:iamPolicy" in state  # seeded again
    assert emu.world.faults.describe() == []
    assert emu.world.projects.get("extra-project") is not None  # posted seeds are part of "the seed"
    async with http.get(f"/compute/v1/projects/{PROJECT}/global/operations") as response:
        assert "items" not in await response.json()


async def test_seed_endpoint_validates(http: aiohttp.ClientSession) -> None:
    async with http.post("/emulator/v1/seed", data="projects: [{projectId: X}]") as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == 400
    async with http.post("/emulator/v1/seed", data="- not a mapping") as response:
        assert response.status == 400


async def test_latency_and_settings_endpoints(emu: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    body = {
        "scale": 0.5,
        "entries": [{"api": "compute", "kind": "globalAddresses", "verb": "insert", "seconds": 8}],
    }
    async with http.post("/emulator/v1/latency", json=body) as response:
        assert response.status == 200
    assert emu.world.delay("compute", "globalAddresses", "insert") == 4.0
    assert emu.world.delay("compute", "globalAddresses", "delete") == 0.0
    async with http.post("/emulator/v1/settings", json={"compute.managedCertificateSeconds": 3}) as response:
        assert (await response.json())["compute.managedCertificateSeconds"] == 3


async def test_control_routes_are_not_logged_or_faulted(
    emu: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    emu.add_fault(status=503)  # matches every API request
    async with http.get("/emulator/v1/healthz") as response:
        assert response.status == 200
    async with http.get(ADDRESSES) as response:
        assert response.status == 503
    assert [r["path"] for r in emu.requests()] == [ADDRESSES]


async def test_unknown_route_and_method_are_google_errors(http: aiohttp.ClientSession) -> None:
    async with http.get("/nothing/here") as response:
        assert response.status == 404
        body = await response.json()
        assert body["error"]["status"] == "NOT_FOUND"
        assert "errors" not in body["error"]
    async with http.get("/compute/v1/nothing") as response:  # compute's envelope on compute paths
        assert (await response.json())["error"]["errors"][0]["reason"] == "notFound"
    async with http.put(ADDRESSES) as response:
        assert response.status == 405
        assert (await response.json())["error"]["code"] == 405
