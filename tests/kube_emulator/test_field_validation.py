"""fieldValidation (Strict, Warn, Ignore) and the size limits, as kube-apiserver answers them."""

from __future__ import annotations

import pytest

from iap_sandbox.emulators.kube import limits

from .conftest import WIDGETS, Api, widget

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
UNKNOWN = 'unknown field "spec.colour"'


def typo() -> dict[str, object]:
    body = widget()
    body["spec"] = {"size": 1, "colour": "red"}
    return body


async def test_strict_create_is_refused_with_the_field_named(api: Api) -> None:
    reply = await api.post(WIDGETS, typo(), fieldValidation="Strict")
    assert reply.status == 400
    assert reply.body["reason"] == "BadRequest"
    assert reply.body["message"] == (
        f'Widget in version "v1" cannot be handled as a Widget: strict decoding error: {UNKNOWN}'
    )
    assert (await api.get(f"{WIDGETS}/w1")).status == 404


@pytest.mark.parametrize("mode", ["Warn", None])
async def test_warn_is_the_default_and_drops_the_field(api: Api, mode: str | None) -> None:
    params = {"fieldValidation": mode} if mode else {}
    reply = await api.post(WIDGETS, typo(), **params)
    assert reply.status == 201
    assert reply.warnings == (f'299 - "{UNKNOWN.replace(chr(34), chr(92) + chr(34))}"',)
    assert reply.body["spec"] == {"size": 1, "color": "blue"}


async def test_ignore_drops_the_field_silently(api: Api) -> None:
    reply = await api.post(WIDGETS, typo(), fieldValidation="Ignore")
    assert (reply.status, reply.warnings) == (201, ())
    assert "colour" not in reply.body["spec"]


async def test_unknown_metadata_fields_count_too(api: Api) -> None:
    body = widget()
    body["metadata"]["labelz"] = {"a": "b"}
    reply = await api.post(WIDGETS, body, fieldValidation="Strict")
    assert reply.status == 400
    assert 'unknown field "metadata.labelz"' in reply.body["message"]


async def test_strict_update_is_refused(api: Api) -> None:
    created = (await api.post(WIDGETS, widget())).body
    created["spec"]["colour"] = "red"
    reply = await api.call("PUT", f"{WIDGETS}/w1", created, params={"fieldValidation": "Strict"})
    assert reply.status == 400
    assert UNKNOWN in reply.body["message"]


@pytest.mark.parametrize(
    ("kind", "patch"),
    [
        ("merge", {"spec": {"colour": "red"}}),
        ("json", [{"op": "add", "path": "/spec/colour", "value": "red"}]),
    ],
)
async def test_strict_patch_is_invalid_on_the_patch(api: Api, kind: str, patch: object) -> None:
    await api.post(WIDGETS, widget())
    reply = await api.patch(f"{WIDGETS}/w1", patch, kind, fieldValidation="Strict")
    assert reply.status == 422
    (cause,) = reply.body["details"]["causes"]
    assert cause["field"] == "patch"
    assert cause["message"].endswith(f"strict decoding error: {UNKNOWN}")
    warned = await api.patch(f"{WIDGETS}/w1", patch, kind)
    assert warned.status == 200
    assert len(warned.warnings) == 1


async def test_server_side_apply_refuses_unknown_fields_whatever_the_directive(api: Api) -> None:
    reply = await api.call(
        "PATCH",
        f"{WIDGETS}/w1",
        typo(),
        content_type="application/apply-patch+yaml",
        params={"fieldManager": "test", "fieldValidation": "Ignore"},
    )
    assert reply.status == 500
    assert reply.body["message"] == (
        "failed to create typed patch object (default/w1; example.com/v1, Kind=Widget): "
        ".spec.colour: field not declared in schema"
    )


async def test_built_in_kinds_use_kubernetes_own_schemas(api: Api) -> None:
    body = {"metadata": {"name": "cm"}, "data": {"a": "b"}, "datta": {"x": "y"}}
    strict = await api.post(CONFIGMAPS, body, fieldValidation="Strict")
    assert strict.status == 400
    assert strict.body["message"].endswith('strict decoding error: unknown field "datta"')
    warned = await api.post(CONFIGMAPS, body)
    assert warned.status == 201
    assert "datta" not in warned.body
    assert warned.body["data"] == {"a": "b"}


async def test_an_unknown_directive_is_refused(api: Api) -> None:
    reply = await api.post(WIDGETS, widget(), fieldValidation="Loud")
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "fieldValidation"


async def test_annotations_are_limited_to_256_kib(api: Api) -> None:
    body = widget(annotations={"a": "x" * (limits.ANNOTATIONS_LIMIT - 1)})
    assert (await api.post(WIDGETS, body)).status == 201
    body = widget("w2", annotations={"a": "x" * limits.ANNOTATIONS_LIMIT})
    reply = await api.post(WIDGETS, body)
    assert reply.status == 422
    assert reply.body["message"] == (
        'Widget.example.com "w2" is invalid: '
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    )


async def test_objects_are_limited_to_what_etcd_stores(api: Api) -> None:
    big = {f"k{i}": "x" * 200_000 for i in range(8)}  # 1.6 MB of labels-free data in a ConfigMap
    reply = await api.post(CONFIGMAPS, {"metadata": {"name": "big"}, "data": big})
    assert reply.status == 500
    assert reply.body["message"] == "etcdserver: request is too large"
    assert (await api.get(f"{CONFIGMAPS}/big")).status == 404


async def test_request_bodies_are_limited_to_3_mib(api: Api) -> None:
    data = {f"k{i}": "x" * 500_000 for i in range(7)}
    reply = await api.post(CONFIGMAPS, {"metadata": {"name": "huge"}, "data": data})
    assert reply.status == 413
    assert reply.body["message"] == "Request entity too large: limit is 3145728"


async def test_deletion_start_bumps_the_generation(api: Api) -> None:
    await api.post(WIDGETS, widget(finalizers=["example.com/hold"]))
    reply = await api.delete(f"{WIDGETS}/w1")
    assert reply.status == 202
    assert reply.body["metadata"]["generation"] == 2
    again = await api.delete(f"{WIDGETS}/w1")
    assert again.body["metadata"]["generation"] == 2
