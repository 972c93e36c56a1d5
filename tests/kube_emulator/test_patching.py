"""Patch formats: merge, strategic merge (as merge), JSON patch with `test`, server-side apply."""

from __future__ import annotations

import pytest

from iap_sandbox.emulators.kube import patching

from .conftest import WIDGETS, Api, widget


def test_merge_patch_merges_dicts_deletes_nulls_replaces_lists() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2], "gone": 1}
    patched = patching.merge_patch(target, {"a": {"b": 9}, "l": [3], "gone": None, "new": {"x": 1}})
    assert patched == {"a": {"b": 9, "c": 2}, "l": [3], "new": {"x": 1}}
    assert target["a"] == {"b": 1, "c": 2}  # not mutated


def test_strategic_merge_drops_directives() -> None:
    patched = patching.strategic_merge_patch(
        {"a": 1}, {"$retainKeys": ["a"], "b": {"$patch": "replace", "c": 1}}
    )
    assert patched == {"a": 1, "b": {"c": 1}}


def test_json_patch_operations() -> None:
    doc = {"metadata": {"finalizers": ["a"], "resourceVersion": "5", "labels": {"x/y": "1"}}}
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
        {"op": "add", "path": "/metadata/finalizers/-", "value": "b"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "replace", "path": "/metadata/labels/x~1y", "value": "2"},
        {"op": "copy", "from": "/metadata/labels", "path": "/metadata/annotations"},
        {"op": "move", "from": "/metadata/resourceVersion", "path": "/rv"},
    ]
    assert patching.json_patch(doc, ops) == {
        "metadata": {"finalizers": ["b"], "labels": {"x/y": "2"}, "annotations": {"x/y": "2"}},
        "rv": "5",
    }


@pytest.mark.parametrize(
    "op",
    [
        {"op": "test", "path": "/a", "value": 2},
        {"op": "remove", "path": "/missing"},
        {"op": "replace", "path": "/missing", "value": 1},
        {"op": "add", "path": "/l/9", "value": 1},
    ],
)
def test_json_patch_failures_are_unprocessable(op: dict[str, object]) -> None:
    with pytest.raises(patching.PatchTestFailed):
        patching.json_patch({"a": 1, "l": []}, [op])


def test_json_patch_malformed_is_a_patch_error() -> None:
    with pytest.raises(patching.PatchError):
        patching.json_patch({}, [{"op": "jump", "path": "/a"}])


async def test_json_patch_with_a_passing_resource_version_test(api: Api) -> None:
    created = (await api.post(WIDGETS, widget())).body
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["kopf.zalando.org/KopfFinalizerMarker"]},
    ]
    reply = await api.patch(f"{WIDGETS}/w1", ops, kind="json")
    assert reply.status == 200
    assert reply.body["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]


async def test_json_patch_with_a_stale_resource_version_is_422(api: Api) -> None:
    created = (await api.post(WIDGETS, widget())).body
    await api.patch(f"{WIDGETS}/w1", {"metadata": {"labels": {"changed": "yes"}}})
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ]
    reply = await api.patch(f"{WIDGETS}/w1", ops, kind="json")
    assert reply.status == 422
    assert reply.body["kind"] == "Status"
    assert "finalizers" not in (await api.get(f"{WIDGETS}/w1")).body["metadata"]


async def test_merge_patch_with_a_stale_resource_version_is_409(api: Api) -> None:
    await api.post(WIDGETS, widget())
    reply = await api.patch(f"{WIDGETS}/w1", {"metadata": {"resourceVersion": "1"}, "spec": {"size": 2}})
    assert reply.status == 409


async def test_strategic_merge_patch_over_http(api: Api) -> None:
    await api.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": "s"}, "data": {"a": "YQ=="}})
    reply = await api.patch(
        "/api/v1/namespaces/default/secrets/s", {"data": {"b": "Yg=="}}, kind="strategic-merge"
    )
    assert reply.status == 200
    assert reply.body["data"] == {"a": "YQ==", "b": "Yg=="}


async def test_server_side_apply_creates_then_updates(api: Api) -> None:
    manifest = b"apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: applied\nspec:\n  size: 2\n"
    path = f"{WIDGETS}/applied"
    params = {"fieldManager": "kubectl"}
    created = await api.call(
        "PATCH", path, manifest, content_type="application/apply-patch+yaml", params=params
    )
    assert created.status == 201
    assert created.body["spec"] == {"size": 2, "color": "blue"}
    updated = await api.call(
        "PATCH", path, manifest.replace(b"size: 2", b"size: 5"), content_type="application/apply-patch+yaml"
    )
    assert updated.status == 200
    assert updated.body["spec"]["size"] == 5
    assert updated.body["metadata"]["generation"] == 2


async def test_unknown_patch_type_is_415(api: Api) -> None:
    await api.post(WIDGETS, widget())
    reply = await api.call("PATCH", f"{WIDGETS}/w1", {"spec": {}}, content_type="text/plain")
    assert reply.status == 415
