"""The corpus applied over HTTP to the emulated Kubernetes API (serve_kube_emulator), as kubectl would.

Invalid manifests answer 422 Invalid naming the field; valid ones are stored with their defaults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from iap_operator import api
from iap_operator.resources import crd_path
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

from .corpus import INVALID, Case
from .test_crd_corpus_admission import expected_after_admission
from .test_crd_examples import DOCS

COLLECTION = f"/apis/{api.GROUP}/{api.VERSION}/namespaces/default/{api.PLURAL}"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
async def kube() -> AsyncIterator[KubeEmulatorHandle]:
    async with serve_kube_emulator(crds=[crd_path()]) as handle:
        handle.ensure_namespace("default")
        yield handle


@pytest.fixture
async def http(kube: KubeEmulatorHandle) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=kube.url) as session:
        yield session


async def create(http: aiohttp.ClientSession, obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with http.post(COLLECTION, json=obj) as response:
        return response.status, await response.json()


def _without_status(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "status"}


async def test_valid_manifest_is_stored_with_its_defaults(
    http: aiohttp.ClientSession, valid_case: Case
) -> None:
    status, stored = await create(http, valid_case.copy())
    assert status == 201, stored
    assert stored["spec"] == expected_after_admission(valid_case.obj)["spec"]
    async with http.get(f"{COLLECTION}/{valid_case.name}") as response:
        assert response.status == 200
        assert (await response.json())["spec"] == stored["spec"]
    if "status" in valid_case.obj:  # status is written through its subresource
        url = f"{COLLECTION}/{valid_case.name}/status"
        async with http.patch(
            url, json={"status": valid_case.obj["status"]}, headers=MERGE_PATCH
        ) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["status"] == valid_case.obj["status"]


async def test_invalid_manifest_answers_422_naming_the_field(
    http: aiohttp.ClientSession, invalid_case: Case
) -> None:
    name = invalid_case.obj["metadata"]["name"]
    if invalid_case.old is not None:  # an update: store the old object, then replace it
        status, stored = await create(http, invalid_case.old)
        assert status == 201, stored
        update = invalid_case.copy()
        update["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]
        request = http.put(f"{COLLECTION}/{name}", json=update)
    elif invalid_case.expect_field.startswith("status"):  # status goes through its subresource
        status, stored = await create(http, _without_status(invalid_case.copy()))
        assert status == 201, stored
        body = {"status": invalid_case.obj["status"]}
        request = http.patch(f"{COLLECTION}/{name}/status", json=body, headers=MERGE_PATCH)
    else:
        request = http.post(COLLECTION, json=invalid_case.copy())
    async with request as response:
        answer = await response.json()
        assert response.status == 422, answer
    assert answer["reason"] == "Invalid"
    assert invalid_case.expect_field in answer["message"]
    assert invalid_case.expect_field in [cause["field"] for cause in answer["details"]["causes"]]


async def test_refused_objects_are_not_stored(http: aiohttp.ClientSession) -> None:
    case = next(c for c in INVALID if c.name == "cloud-run-region-missing")
    status, _ = await create(http, case.copy())
    assert status == 422
    async with http.get(f"{COLLECTION}/{case.name}") as response:
        assert response.status == 404


async def test_examples_apply_cleanly(http: aiohttp.ClientSession) -> None:
    for file, doc in DOCS:
        url = "/api/v1/namespaces/default/secrets" if doc["kind"] == "Secret" else COLLECTION
        async with http.post(url, json=doc) as response:
            assert response.status == 201, (file, await response.text())
