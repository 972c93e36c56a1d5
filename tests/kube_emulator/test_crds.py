"""CRDs: installing makes kinds servable; status subresource and generation rules; deletion cascades."""

from __future__ import annotations

import copy

from .conftest import GADGETS, WIDGET_CRD, WIDGETS, Api, widget

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def thing_crd(scope: str = "Namespaced") -> dict[str, object]:
    crd = copy.deepcopy(WIDGET_CRD)
    crd["metadata"]["name"] = "things.other.example.com"
    crd["spec"]["group"] = "other.example.com"
    crd["spec"]["scope"] = scope
    crd["spec"]["names"] = {"plural": "things", "kind": "Thing"}
    return crd


async def test_posting_a_crd_makes_its_kind_servable_and_established(api: Api) -> None:
    assert (await api.get("/apis/other.example.com/v1/namespaces/default/things")).status == 404
    reply = await api.post(CRDS, thing_crd())
    assert reply.status == 201
    conditions = {c["type"]: c["status"] for c in reply.body["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert reply.body["status"]["acceptedNames"]["kind"] == "Thing"
    created = await api.post(
        "/apis/other.example.com/v1beta1/namespaces/default/things",
        {"metadata": {"name": "t"}, "spec": {"size": 1}},
    )
    assert created.status == 201
    assert created.body["apiVersion"] == "other.example.com/v1beta1"


async def test_cluster_scoped_custom_resources(api: Api) -> None:
    reply = await api.post(
        GADGETS, {"metadata": {"name": "g", "namespace": "ignored"}, "anything": {"goes": 1}}
    )
    assert reply.status == 201
    assert "namespace" not in reply.body["metadata"]
    assert (await api.get(f"{GADGETS}/g")).body["anything"] == {"goes": 1}


async def test_invalid_crd_is_422(api: Api) -> None:
    crd = thing_crd()
    crd["metadata"]["name"] = "wrong.name"
    reply = await api.post(CRDS, crd)
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.name"


async def test_main_resource_writes_ignore_status(api: Api) -> None:
    body = widget()
    body["status"] = {"phase": "forged"}
    created = (await api.post(WIDGETS, body)).body
    assert "status" not in created
    await api.patch(f"{WIDGETS}/w1/status", {"status": {"phase": "real"}})
    patched = (
        await api.patch(f"{WIDGETS}/w1", {"status": {"phase": "forged"}, "metadata": {"labels": {"a": "b"}}})
    ).body
    assert patched["status"] == {"phase": "real"}
    assert patched["metadata"]["labels"] == {"a": "b"}


async def test_status_writes_change_only_status(api: Api) -> None:
    await api.post(WIDGETS, widget())
    reply = await api.patch(
        f"{WIDGETS}/w1/status",
        {"status": {"phase": "up"}, "spec": {"size": 99}, "metadata": {"labels": {"x": "y"}}},
    )
    assert reply.status == 200
    assert reply.body["status"] == {"phase": "up"}
    assert reply.body["spec"]["size"] == 3
    assert "labels" not in reply.body["metadata"]
    assert reply.body["metadata"]["generation"] == 1
    put = await api.call("PUT", f"{WIDGETS}/w1/status", {**reply.body, "status": {"phase": "down"}})
    assert put.body["status"] == {"phase": "down"}


async def test_generation_bumps_only_on_spec_changes(api: Api) -> None:
    await api.post(WIDGETS, widget())
    await api.patch(f"{WIDGETS}/w1", {"metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}}})
    await api.patch(f"{WIDGETS}/w1/status", {"status": {"observedGeneration": 1}})
    assert (await api.get(f"{WIDGETS}/w1")).body["metadata"]["generation"] == 1
    await api.patch(f"{WIDGETS}/w1", {"spec": {"size": 4}})
    assert (await api.get(f"{WIDGETS}/w1")).body["metadata"]["generation"] == 2


async def test_without_a_status_subresource_status_is_ordinary_content(api: Api) -> None:
    await api.post(GADGETS, {"metadata": {"name": "g"}, "status": {"a": 1}})
    reply = await api.patch(f"{GADGETS}/g", {"status": {"a": 2}})
    assert reply.body["status"] == {"a": 2}
    assert reply.body["metadata"]["generation"] == 2
    assert (await api.patch(f"{GADGETS}/g/status", {"status": {"a": 3}})).status == 404


async def test_crd_deletion_waits_for_object_finalizers_then_removes_everything(api: Api) -> None:
    await api.post(WIDGETS, widget("held", finalizers=["example.com/hold"]))
    await api.post(WIDGETS, widget("free"))
    reply = await api.delete(f"{CRDS}/widgets.example.com")
    assert reply.status == 202
    terminating = {c["type"]: c["status"] for c in reply.body["status"]["conditions"]}
    assert terminating["Terminating"] == "True"
    assert (await api.get(f"{WIDGETS}/free")).status == 404
    held = (await api.get(f"{WIDGETS}/held")).body
    assert held["metadata"]["deletionTimestamp"]
    refused = await api.post(WIDGETS, widget("late"))
    assert refused.status == 405
    await api.patch(f"{WIDGETS}/held", {"metadata": {"finalizers": []}})
    assert (await api.get(f"{CRDS}/widgets.example.com")).status == 404
    assert (await api.get(WIDGETS)).status == 404


async def test_crd_update_adds_a_version(api: Api) -> None:
    crd = (await api.get(f"{CRDS}/widgets.example.com")).body
    crd["spec"]["versions"].append({**crd["spec"]["versions"][1], "name": "v2alpha1"})
    reply = await api.call("PUT", f"{CRDS}/widgets.example.com", crd)
    assert reply.status == 200
    assert (await api.get("/apis/example.com/v2alpha1/namespaces/default/widgets")).status == 200
