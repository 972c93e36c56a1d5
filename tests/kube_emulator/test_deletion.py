"""Deletion: finalizers, deletionTimestamp, MODIFIED-then-DELETED, owner references, namespaces."""

from __future__ import annotations

import asyncio

from iap_sandbox.emulators.kube.server import KubeEmulatorHandle

from .conftest import WIDGETS, Api, widget


async def test_delete_without_finalizers_removes_at_once(api: Api) -> None:
    await api.post(WIDGETS, widget())
    reply = await api.delete(f"{WIDGETS}/w1")
    assert reply.status == 200
    assert reply.body["metadata"]["name"] == "w1"
    assert (await api.get(f"{WIDGETS}/w1")).status == 404
    assert (await api.delete(f"{WIDGETS}/w1")).status == 404


async def test_finalizers_keep_the_object_until_released(api: Api) -> None:
    await api.post(WIDGETS, widget(finalizers=["example.com/cleanup"]))
    listed = (await api.get(WIDGETS)).body["metadata"]["resourceVersion"]
    watching = asyncio.create_task(api.watch(WIDGETS, count=3, resourceVersion=listed))

    reply = await api.delete(f"{WIDGETS}/w1")
    assert reply.status == 202
    assert reply.body["metadata"]["deletionTimestamp"]
    stored = (await api.get(f"{WIDGETS}/w1")).body
    assert stored["metadata"]["deletionTimestamp"] == reply.body["metadata"]["deletionTimestamp"]

    again = await api.delete(f"{WIDGETS}/w1")  # a repeated delete changes nothing
    assert again.body["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]

    await api.patch(f"{WIDGETS}/w1", {"metadata": {"finalizers": None}})
    events = await watching
    assert [e["type"] for e in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert events[1]["object"]["metadata"].get("finalizers") is None
    assert (await api.get(f"{WIDGETS}/w1")).status == 404


async def test_no_new_finalizers_on_a_terminating_object(api: Api) -> None:
    await api.post(WIDGETS, widget(finalizers=["a"]))
    await api.delete(f"{WIDGETS}/w1")
    reply = await api.patch(f"{WIDGETS}/w1", {"metadata": {"finalizers": ["a", "b"]}})
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["reason"] == "FieldValueForbidden"


async def test_deletion_timestamp_cannot_be_written_by_clients(api: Api) -> None:
    await api.post(WIDGETS, widget())
    reply = await api.patch(f"{WIDGETS}/w1", {"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}})
    assert "deletionTimestamp" not in reply.body["metadata"]


async def test_delete_preconditions(api: Api) -> None:
    await api.post(WIDGETS, widget())
    reply = await api.delete(f"{WIDGETS}/w1", {"preconditions": {"uid": "someone-else"}})
    assert reply.status == 409
    assert (await api.get(f"{WIDGETS}/w1")).status == 200


async def test_owned_objects_are_garbage_collected(api: Api) -> None:
    owner = (await api.post(WIDGETS, widget("owner"))).body
    reference = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    secret = {"metadata": {"name": "owned", "ownerReferences": [reference]}, "data": {}}
    await api.post("/api/v1/namespaces/default/secrets", secret)
    await api.delete(f"{WIDGETS}/owner")
    assert (await api.get("/api/v1/namespaces/default/secrets/owned")).status == 404


async def test_namespace_deletion_deletes_its_contents(api: Api, kube: KubeEmulatorHandle) -> None:
    kube.ensure_namespace("doomed")
    await api.post("/apis/example.com/v1/namespaces/doomed/widgets", widget(finalizers=["hold"]))
    reply = await api.delete("/api/v1/namespaces/doomed")
    assert reply.status == 202
    assert reply.body["status"]["phase"] == "Terminating"
    blocked = await api.post("/api/v1/namespaces/doomed/secrets", {"metadata": {"name": "late"}})
    assert blocked.status == 403
    await api.patch("/apis/example.com/v1/namespaces/doomed/widgets/w1", {"metadata": {"finalizers": []}})
    assert (await api.get("/apis/example.com/v1/namespaces/doomed/widgets/w1")).status == 404
    assert (await api.get("/api/v1/namespaces/doomed")).status == 404


async def test_delete_collection(api: Api) -> None:
    await api.post(WIDGETS, widget("a", labels={"x": "1"}))
    await api.post(WIDGETS, widget("b"))
    reply = await api.call("DELETE", WIDGETS, params={"labelSelector": "x=1"})
    assert [item["metadata"]["name"] for item in reply.body["items"]] == ["a"]
    assert [i["metadata"]["name"] for i in (await api.get(WIDGETS)).body["items"]] == ["b"]
