"""Create/get/list/update semantics kopf and kubectl rely on."""

from __future__ import annotations

import re

from iap_sandbox.emulators.kube.server import KubeEmulatorHandle

from .conftest import WIDGETS, Api, widget


async def test_create_answers_201_with_server_metadata(api: Api) -> None:
    reply = await api.post(WIDGETS, widget())
    meta = reply.body["metadata"]
    assert reply.status == 201
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert meta["namespace"] == "default"
    assert meta["resourceVersion"].isdigit()


async def test_resource_version_changes_on_every_write(api: Api) -> None:
    first = (await api.post(WIDGETS, widget())).body["metadata"]["resourceVersion"]
    second = (await api.patch(f"{WIDGETS}/w1", {"metadata": {"labels": {"a": "b"}}})).body
    third = (await api.patch(f"{WIDGETS}/w1", {"spec": {"size": 4}})).body
    versions = [
        int(first),
        int(second["metadata"]["resourceVersion"]),
        int(third["metadata"]["resourceVersion"]),
    ]
    assert versions == sorted(set(versions))
    fetched = (await api.get(f"{WIDGETS}/w1")).body
    assert fetched["metadata"]["resourceVersion"] == third["metadata"]["resourceVersion"]


async def test_noop_patch_keeps_the_resource_version(api: Api) -> None:
    created = (await api.post(WIDGETS, widget())).body
    same = (await api.patch(f"{WIDGETS}/w1", {"spec": {"size": 3}})).body
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_generate_name_makes_a_unique_name(api: Api) -> None:
    body = {"metadata": {"generateName": "kopf-event-"}, "reason": "Test", "message": "hello"}
    first = await api.post("/api/v1/namespaces/default/events", body)
    second = await api.post("/api/v1/namespaces/default/events", body)
    assert first.status == second.status == 201
    names = {first.body["metadata"]["name"], second.body["metadata"]["name"]}
    assert len(names) == 2
    assert all(re.fullmatch(r"kopf-event-[a-z0-9]{5}", name) for name in names)


async def test_duplicate_create_is_409_already_exists(api: Api) -> None:
    await api.post(WIDGETS, widget())
    reply = await api.post(WIDGETS, widget())
    assert reply.status == 409
    assert reply.body["kind"] == "Status"
    assert reply.body["reason"] == "AlreadyExists"
    assert reply.body["message"] == 'widgets.example.com "w1" already exists'


async def test_missing_object_is_404_status(api: Api) -> None:
    reply = await api.get(f"{WIDGETS}/nope")
    assert reply.status == 404
    assert reply.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'widgets.example.com "nope" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "nope", "group": "example.com", "kind": "widgets"},
    }


async def test_list_has_api_version_kind_and_resource_version(api: Api) -> None:
    await api.post(WIDGETS, widget("b"))
    await api.post(WIDGETS, widget("a"))
    reply = await api.get(WIDGETS)
    assert reply.body["apiVersion"] == "example.com/v1"
    assert reply.body["kind"] == "WidgetList"
    assert int(reply.body["metadata"]["resourceVersion"]) >= 2
    assert [item["metadata"]["name"] for item in reply.body["items"]] == ["a", "b"]
    assert all(item["kind"] == "Widget" for item in reply.body["items"])


async def test_cluster_wide_list_spans_namespaces(api: Api, kube: KubeEmulatorHandle) -> None:
    kube.ensure_namespace("other")
    await api.post(WIDGETS, widget("a"))
    await api.post("/apis/example.com/v1/namespaces/other/widgets", widget("b"))
    names = {
        (i["metadata"]["namespace"], i["metadata"]["name"])
        for i in (await api.get("/apis/example.com/v1/widgets")).body["items"]
    }
    assert names == {("default", "a"), ("other", "b")}


async def test_objects_are_served_at_every_version(api: Api) -> None:
    await api.post(WIDGETS, widget())
    beta = await api.get("/apis/example.com/v1beta1/namespaces/default/widgets/w1")
    assert beta.body["apiVersion"] == "example.com/v1beta1"
    assert beta.body["spec"]["size"] == 3


async def test_create_in_a_missing_namespace_is_404(api: Api) -> None:
    reply = await api.post("/apis/example.com/v1/namespaces/ghost/widgets", widget())
    assert reply.status == 404
    assert reply.body["message"] == 'namespaces "ghost" not found'


async def test_namespace_mismatch_is_400(api: Api) -> None:
    reply = await api.post(WIDGETS, widget(namespace="kube-system"))
    assert reply.status == 400
    assert reply.body["reason"] == "BadRequest"


async def test_invalid_name_is_422(api: Api) -> None:
    reply = await api.post(WIDGETS, widget("Not_Valid"))
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.name"


async def test_put_with_a_stale_resource_version_is_409_conflict(api: Api) -> None:
    created = (await api.post(WIDGETS, widget())).body
    await api.patch(f"{WIDGETS}/w1", {"spec": {"size": 5}})
    created["spec"]["size"] = 7
    reply = await api.call("PUT", f"{WIDGETS}/w1", created)
    assert reply.status == 409
    assert reply.body["reason"] == "Conflict"


async def test_put_replaces_the_object_and_keeps_system_metadata(api: Api) -> None:
    created = (await api.post(WIDGETS, widget())).body
    replacement = widget(size=9)
    replacement["metadata"]["uid"] = "forged"
    reply = await api.call("PUT", f"{WIDGETS}/w1", replacement)
    assert reply.status == 200
    assert reply.body["spec"] == {"size": 9, "color": "blue"}
    assert reply.body["metadata"]["uid"] == created["metadata"]["uid"]
    assert reply.body["metadata"]["generation"] == 2


async def test_secrets_leases_and_peerings_are_servable(api: Api) -> None:
    secret = {"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}}
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}}
    peering = {"metadata": {"name": "default"}, "status": {}}
    for path, body in (
        ("/api/v1/namespaces/default/secrets", secret),
        ("/apis/coordination.k8s.io/v1/namespaces/default/leases", lease),
        ("/apis/kopf.dev/v1/namespaces/default/kopfpeerings", peering),
        ("/apis/kopf.dev/v1/clusterkopfpeerings", peering),
        ("/apis/events.k8s.io/v1/namespaces/default/events", {"metadata": {"generateName": "e-"}}),
    ):
        reply = await api.post(path, body)
        assert reply.status == 201, (path, reply.body)
        assert reply.body["metadata"]["resourceVersion"]
    assert (await api.get("/api/v1/namespaces/default/secrets/s")).body["data"] == {"k": "dg=="}


async def test_dry_run_create_stores_nothing(api: Api) -> None:
    reply = await api.call("POST", WIDGETS, widget(), params={"dryRun": "All"})
    assert reply.status == 201
    assert (await api.get(f"{WIDGETS}/w1")).status == 404


async def test_direct_helpers_share_the_state(api: Api, kube: KubeEmulatorHandle) -> None:
    kube.create(widget("direct") | {"metadata": {"name": "direct", "namespace": "default"}})
    assert (await api.get(f"{WIDGETS}/direct")).status == 200
    kube.patch_status("example.com/v1", "Widget", "direct", {"phase": "Up"}, namespace="default")
    assert (await api.get(f"{WIDGETS}/direct")).body["status"] == {"phase": "Up"}
    assert kube.get("example.com/v1", "Widget", "absent", "default") is None
