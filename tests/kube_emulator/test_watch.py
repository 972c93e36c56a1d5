"""Watch streams: resumption from ?resourceVersion=, the JSON stream type, selectors, 410, timeouts."""

from __future__ import annotations

import asyncio

import aiohttp

from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

from .conftest import WIDGET_CRD, WIDGETS, Api, widget


async def test_watch_without_resource_version_replays_existing_objects_as_added(api: Api) -> None:
    await api.post(WIDGETS, widget("a"))
    await api.post(WIDGETS, widget("b"))
    events = await api.watch(WIDGETS, count=2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("ADDED", "b")]


async def test_watch_from_a_list_resource_version_sends_only_later_changes(api: Api) -> None:
    await api.post(WIDGETS, widget("old"))
    listed = (await api.get(WIDGETS)).body["metadata"]["resourceVersion"]
    await api.post(WIDGETS, widget("new"))
    await api.patch(f"{WIDGETS}/old", {"spec": {"size": 8}})
    events = await api.watch(WIDGETS, count=2, resourceVersion=listed)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "new"),
        ("MODIFIED", "old"),
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert min(versions) > int(listed)


async def test_watch_streams_live_changes(api: Api) -> None:
    listed = (await api.get(WIDGETS)).body["metadata"]["resourceVersion"]
    watching = asyncio.create_task(api.watch(WIDGETS, count=2, resourceVersion=listed))
    await api.post(WIDGETS, widget())
    await api.delete(f"{WIDGETS}/w1")
    events = await watching
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(
        events[0]["object"]["metadata"]["resourceVersion"]
    )


async def test_watch_is_scoped_to_the_namespace_and_selectors(api: Api, kube: KubeEmulatorHandle) -> None:
    kube.ensure_namespace("other")
    listed = (await api.get(WIDGETS)).body["metadata"]["resourceVersion"]
    await api.post("/apis/example.com/v1/namespaces/other/widgets", widget("elsewhere"))
    await api.post(WIDGETS, widget("plain"))
    await api.post(WIDGETS, widget("labelled", labels={"app": "web"}))
    events = await api.watch(WIDGETS, count=1, resourceVersion=listed, labelSelector="app=web")
    assert [e["object"]["metadata"]["name"] for e in events] == ["labelled"]


async def test_watch_of_a_named_object(api: Api) -> None:
    await api.post(WIDGETS, widget("a"))
    await api.post(WIDGETS, widget("b"))
    events = await api.watch(f"{WIDGETS}/b", count=1)
    assert events[0]["object"]["metadata"]["name"] == "b"


async def test_watch_is_served_at_the_requested_version(api: Api) -> None:
    await api.post(WIDGETS, widget())
    events = await api.watch("/apis/example.com/v1beta1/namespaces/default/widgets", count=1)
    assert events[0]["object"]["apiVersion"] == "example.com/v1beta1"


async def test_compacted_resource_version_is_410_gone_in_the_stream() -> None:
    async with serve_kube_emulator(crds=[WIDGET_CRD], watch_history=2) as kube:
        for size in range(1, 6):
            kube.apply(widget(size=size) | {"metadata": {"name": "w1", "namespace": "default"}})
        async with aiohttp.ClientSession() as session:
            events = await Api(session, kube.url).watch(WIDGETS, count=1, resourceVersion="1")
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"


async def test_timeout_seconds_ends_the_stream(api: Api) -> None:
    events = await api.watch(WIDGETS, count=1, within=5.0, timeoutSeconds="0.2")
    assert events == []


async def test_initial_events_end_with_a_bookmark(api: Api) -> None:
    await api.post(WIDGETS, widget())
    events = await api.watch(
        WIDGETS,
        count=2,
        sendInitialEvents="true",
        allowWatchBookmarks="true",
        resourceVersionMatch="NotOlderThan",
    )
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_server_shutdown_ends_open_watches(kube: KubeEmulatorHandle, api: Api) -> None:
    watching = asyncio.create_task(api.watch(WIDGETS, count=1, within=5.0))
    async with asyncio.timeout(5):
        await kube.wait_for_watchers()
    kube.cluster.hub.close()
    assert await watching == []
