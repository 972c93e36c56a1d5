"""The emulator's per-request cost does not grow with what it stores (docs/gcp-emulator.md, Scaling).

Structural, not timed: the store counts every stored item it hands out (`touched`) and every deep copy
it makes (`copies`); the same requests against 5 and 205 load-balancer chains must cost the same.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from iap_sandbox.emulators.gcp.core import StoreStats
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import COMPUTE, PROJECT, REGION

SELF = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}"


async def _ok(response: aiohttp.ClientResponse) -> Any:
    body = await response.json()
    assert response.status == 200, body
    return body


async def _insert(http: aiohttp.ClientSession, collection: str, body: dict[str, Any]) -> None:
    async with http.post(f"{COMPUTE}/{collection}", json=body) as response:
        await _ok(response)


async def _chain(http: aiohttp.ClientSession, name: str) -> None:
    """NEG -> backend service -> URL map -> HTTP proxy, an address and a forwarding rule on it."""
    neg = {"name": name, "networkEndpointType": "SERVERLESS", "cloudRun": {"service": name}}
    await _insert(http, f"regions/{REGION}/networkEndpointGroups", neg)
    group = f"{SELF}/regions/{REGION}/networkEndpointGroups/{name}"
    backend = {"name": name, "loadBalancingScheme": "EXTERNAL_MANAGED", "backends": [{"group": group}]}
    await _insert(http, "global/backendServices", backend)
    await _insert(
        http, "global/urlMaps", {"name": name, "defaultService": f"{SELF}/global/backendServices/{name}"}
    )
    await _insert(http, "global/targetHttpProxies", {"name": name, "urlMap": f"{SELF}/global/urlMaps/{name}"})
    await _insert(http, "global/addresses", {"name": name, "labels": {"owner": name}})
    async with http.get(f"{COMPUTE}/global/addresses/{name}") as response:
        ip = (await _ok(response))["address"]
    rule = {
        "name": name,
        "target": f"{SELF}/global/targetHttpProxies/{name}",
        "portRange": "80",
        "IPAddress": ip,
    }
    await _insert(http, "global/forwardingRules", rule)


async def _probe(http: aiohttp.ClientSession, name: str) -> None:
    """A resource's life as the operator sees it: create, read, find by filter, page, tear down."""
    await _chain(http, name)
    async with http.get(f"{COMPUTE}/global/addresses/{name}") as response:
        ip = (await _ok(response))["address"]
    for collection, query in (
        ("global/addresses", {"filter": f'address = "{ip}"'}),
        ("global/addresses", {"filter": f"labels.owner = {name}"}),
        ("global/forwardingRules", {"filter": f"(IPAddress = {ip})"}),
        ("global/targetHttpProxies", {"filter": f"name eq {name}.*"}),
        ("global/backendServices", {"filter": f'name = "{name}"'}),
    ):
        async with http.get(f"{COMPUTE}/{collection}", params=query) as response:
            assert [item["name"] for item in (await _ok(response))["items"]] == [name]
    async with http.get(f"{COMPUTE}/global/urlMaps", params={"maxResults": "2"}) as response:
        token = (await _ok(response))["nextPageToken"]
    async with http.get(
        f"{COMPUTE}/global/urlMaps", params={"maxResults": "2", "pageToken": token}
    ) as response:
        assert len((await _ok(response))["items"]) == 2
    for collection in (
        "global/forwardingRules",
        "global/addresses",
        "global/targetHttpProxies",
        "global/urlMaps",
    ):
        async with http.delete(f"{COMPUTE}/{collection}/{name}") as response:
            await _ok(response)
    async with http.delete(f"{COMPUTE}/global/backendServices/{name}") as response:
        await _ok(response)
    async with http.delete(f"{COMPUTE}/regions/{REGION}/networkEndpointGroups/{name}") as response:
        await _ok(response)


async def _cost(emu: EmulatorHandle, http: aiohttp.ClientSession, name: str) -> StoreStats:
    stats = emu.world.store.stats
    before = StoreStats(stats.copies, stats.touched)
    await _probe(http, name)
    return StoreStats(stats.copies - before.copies, stats.touched - before.touched)


async def test_request_cost_does_not_grow_with_the_store(
    emu: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    for i in range(5):
        await _chain(http, f"svc-{i}")
    await _cost(emu, http, "warm")  # builds the field indexes the filters use (once per field)
    small = await _cost(emu, http, "probe-a")
    for i in range(5, 205):
        await _chain(http, f"svc-{i}")
    large = await _cost(emu, http, "probe-b")
    assert small.touched > 0
    assert large == small  # the same stored items read and copied with 41x the resources
