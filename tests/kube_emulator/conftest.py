"""Fixtures for the emulated Kubernetes API: a served emulator with two tiny CRDs, and a raw HTTP client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "color": {"type": "string", "enum": ["blue", "red"], "default": "blue"},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}

# Namespaced, two served versions (v1 stores), a status subresource, printer columns.
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": version,
                "served": True,
                "storage": version == "v1",
                "schema": {"openAPIV3Schema": _SCHEMA},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                    },
                ],
            }
            for version in ("v1", "v1beta1")
        ],
    },
}

# Cluster-scoped, schemaless, no status subresource.
GADGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Cluster",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}

WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
GADGETS = "/apis/example.com/v1/gadgets"


def widget(name: str = "w1", size: int = 3, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, **meta},
        "spec": {"size": size},
    }


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    content_type: str
    warnings: tuple[str, ...] = ()  # the Warning headers


class Api:
    """Raw HTTP against the emulated API: what kopf/kubectl see on the wire."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.session.request(
            method,
            self.url + path,
            data=data,
            params=params,
            headers={"Content-Type": content_type, **(headers or {})},
        ) as response:
            text = await response.text()
            warnings = tuple(response.headers.getall("Warning", ()))
            return Reply(response.status, json.loads(text) if text else None, response.content_type, warnings)

    async def get(self, path: str, **params: str) -> Reply:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any, **params: str) -> Reply:
        return await self.call("POST", path, body, params=params or None)

    async def patch(self, path: str, body: Any, kind: str = "merge", **params: str) -> Reply:
        return await self.call(
            "PATCH", path, body, content_type=f"application/{kind}-patch+json", params=params or None
        )

    async def delete(self, path: str, body: Any = None) -> Reply:
        return await self.call("DELETE", path, body)

    async def watch(self, path: str, count: int, within: float = 5.0, **params: str) -> list[dict[str, Any]]:
        """The first `count` events of a watch stream (fails if they do not arrive `within` seconds)."""
        events: list[dict[str, Any]] = []
        query = {"watch": "true", **params}
        async with asyncio.timeout(within), self.session.get(self.url + path, params=query) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            while len(events) < count:
                line = await response.content.readline()
                if not line:
                    break
                events.append(json.loads(line))
        return events


@pytest.fixture
async def kube() -> AsyncIterator[KubeEmulatorHandle]:
    async with serve_kube_emulator(crds=[WIDGET_CRD, GADGET_CRD]) as handle:
        yield handle


@pytest.fixture
async def api(kube: KubeEmulatorHandle) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, kube.url)
