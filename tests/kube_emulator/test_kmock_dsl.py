"""kmock's DSL still works on the emulator: tests can inject reactions and assert on recorded requests."""

from __future__ import annotations

import aiohttp
import kmock

from iap_sandbox.emulators.kube.emulator import KubeEmulator
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

from .conftest import WIDGETS, Api, widget


async def test_reactions_take_precedence_over_the_emulated_api(api: Api, kube: KubeEmulatorHandle) -> None:
    await api.post(WIDGETS, widget())
    widgets = kmock.resource("example.com", "v1", "widgets")
    kube.emulator[kmock.action.UPDATE, widgets][:1] << 503 << {"kind": "Status", "code": 503}

    failed = await api.patch(f"{WIDGETS}/w1", {"spec": {"size": 9}})
    assert failed.status == 503
    assert (await api.get(f"{WIDGETS}/w1")).body["spec"]["size"] == 3  # the reaction answered instead

    retried = await api.patch(f"{WIDGETS}/w1", {"spec": {"size": 9}})  # the one-shot reaction is used up
    assert retried.status == 200
    assert retried.body["spec"]["size"] == 9
    updates = list(kube.emulator[kmock.action.UPDATE, widgets])
    assert [request.name for request in updates] == ["w1", "w1"]


async def test_requests_are_parsed_for_kmock_filters(api: Api, kube: KubeEmulatorHandle) -> None:
    await api.get("/api/v1/namespaces")  # kmock 0.8's own parser fails on this path
    await api.get("/api/v1/namespaces/default/secrets")
    (namespaces,) = list(kube.emulator[kmock.resource("v1", "namespaces")])
    (secrets,) = list(kube.emulator[kmock.resource("v1", "secrets")])
    assert namespaces.action == kmock.action.LIST
    assert secrets.namespace == "default"


async def test_the_request_log_is_bounded() -> None:
    async with serve_kube_emulator(request_log_limit=3) as kube:
        async with aiohttp.ClientSession() as session:
            api = Api(session, kube.url)
            for _ in range(5):
                await api.get("/api")
        assert isinstance(kube.emulator, KubeEmulator)
        assert len(list(kube.emulator)) == 3
