"""Built-in kinds: Secret stringData, protobuf request bodies, undecodable bodies."""

from __future__ import annotations

import pytest

from iap_sandbox.emulators.kube import protobuf

from .conftest import Api


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return protobuf.MAGIC + _field(1, type_meta) + _field(2, raw)


def test_protobuf_secret_is_decoded() -> None:
    meta = _field(1, b"s") + _field(3, b"") + _field(11, _field(1, b"app") + _field(2, b"web"))
    entry = _field(1, b"k") + _field(2, b"\x00\xff")
    raw = (
        _field(1, meta)
        + _field(2, entry)
        + _field(3, b"Opaque")
        + _field(4, _field(1, b"t") + _field(2, b"v"))
    )
    assert protobuf.decode(_envelope("v1", "Secret", raw)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "labels": {"app": "web"}},
        "data": {"k": "AP8="},
        "type": "Opaque",
        "stringData": {"t": "v"},
    }


def test_protobuf_of_unmapped_kinds_is_refused() -> None:
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(_envelope("apps/v1", "Deployment", b""))
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(b"not protobuf")


async def test_secret_string_data_becomes_data(api: Api) -> None:
    body = {"metadata": {"name": "s"}, "data": {"a": "YQ=="}, "stringData": {"b": "b"}}
    created = (await api.post("/api/v1/namespaces/default/secrets", body)).body
    assert created["data"] == {"a": "YQ==", "b": "Yg=="}
    assert "stringData" not in created
    assert created["type"] == "Opaque"
    patched = (await api.patch("/api/v1/namespaces/default/secrets/s", {"stringData": {"a": "z"}})).body
    assert patched["data"] == {"a": "eg==", "b": "Yg=="}


async def test_protobuf_over_http(api: Api) -> None:
    raw = _field(1, _field(1, b"pb"))
    body = _envelope("v1", "ConfigMap", raw + _field(2, _field(1, b"k") + _field(2, b"v")))
    reply = await api.call(
        "POST", "/api/v1/namespaces/default/configmaps", body, content_type=protobuf.PROTOBUF
    )
    assert reply.status == 201
    assert reply.body["data"] == {"k": "v"}
    refused = await api.call(
        "POST",
        "/api/v1/namespaces/default/events",
        _envelope("v1", "Event", b""),
        content_type=protobuf.PROTOBUF,
    )
    assert refused.status == 415


async def test_undecodable_bodies_are_400(api: Api) -> None:
    assert (await api.call("POST", "/api/v1/namespaces/default/secrets", b"{nope")).status == 400
    bad_yaml = await api.call(
        "PATCH", "/api/v1/namespaces/default/secrets/x", b"a: [", content_type="application/apply-patch+yaml"
    )
    assert bad_yaml.status == 400
