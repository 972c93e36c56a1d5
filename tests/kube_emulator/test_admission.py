"""Admission for CRD kinds: 422 `Invalid` Status with causes, defaulting, and the project's own CRD."""

from __future__ import annotations

import aiohttp
import pytest
import yaml

from iap_operator.resources import crd_path
from iap_sandbox.emulators.kube.server import serve_kube_emulator

from .conftest import WIDGETS, Api, widget


async def test_violations_answer_422_invalid_status(api: Api) -> None:
    body = widget(size=0)
    body["spec"]["color"] = "green"
    reply = await api.post(WIDGETS, body)
    assert reply.status == 422
    status = reply.body
    assert (status["kind"], status["apiVersion"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "v1",
        "Failure",
        "Invalid",
        422,
    )
    causes = {cause["field"]: cause for cause in status["details"]["causes"]}
    assert set(causes) == {"spec.size", "spec.color"}
    assert causes["spec.color"]["reason"] == "FieldValueNotSupported"
    assert status["details"]["name"] == "w1"
    assert status["details"]["group"] == "example.com"
    assert status["details"]["kind"] == "Widget"
    assert status["message"].startswith('Widget.example.com "w1" is invalid: ')
    assert "spec.size: " in status["message"]


async def test_defaults_are_applied_on_create(api: Api) -> None:
    reply = await api.post(WIDGETS, widget())
    assert reply.body["spec"] == {"size": 3, "color": "blue"}


async def test_updates_and_patches_are_validated(api: Api) -> None:
    await api.post(WIDGETS, widget())
    assert (await api.patch(f"{WIDGETS}/w1", {"spec": {"size": "big"}})).status == 422
    assert (
        await api.patch(f"{WIDGETS}/w1", [{"op": "remove", "path": "/spec/size"}], kind="json")
    ).status == 422
    assert (await api.get(f"{WIDGETS}/w1")).body["spec"]["size"] == 3


@pytest.mark.skipif(not crd_path().is_file(), reason="the project CRD is not in crds/ yet")
async def test_project_crd_rejects_an_invalid_iap_protected_service() -> None:
    crd = yaml.safe_load(crd_path().read_text())
    group, (version,) = crd["spec"]["group"], [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
    plural = crd["spec"]["names"]["plural"]
    invalid = {
        "apiVersion": f"{group}/{version}",
        "kind": "IapProtectedService",
        "metadata": {"name": "broken"},
        "spec": {"mode": "Sideways", "cloudRun": {"region": 12}},
    }
    async with serve_kube_emulator(crds=[crd_path()]) as kube, aiohttp.ClientSession() as session:
        reply = await Api(session, kube.url).post(
            f"/apis/{group}/{version}/namespaces/default/{plural}", invalid
        )
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"
    assert reply.body["details"]["kind"] == "IapProtectedService"
    assert reply.body["message"].startswith('IapProtectedService.iap-operator.dev "broken" is invalid: ')
    fields = {cause["field"] for cause in reply.body["details"]["causes"]}
    assert {"spec.mode", "spec.cloudRun.region"} <= fields
