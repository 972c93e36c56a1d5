"""Fault rules: a Kubernetes Status for the code, Retry-After, counts, probability, latency, per user."""

from __future__ import annotations

import time

import aiohttp

from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

from .conftest import WIDGETS, Api, widget


async def test_a_429_carries_retry_after_as_priority_and_fairness_does(
    api: Api, kube: KubeEmulatorHandle
) -> None:
    rule = kube.faults.add(method="POST", path="/widgets$", status=429, retry_after=2, count=1)
    async with aiohttp.ClientSession() as session, session.post(kube.url + WIDGETS, json=widget()) as resp:
        body = await resp.json()
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "2"
    assert body["reason"] == "TooManyRequests"
    assert body["details"]["retryAfterSeconds"] == 2
    assert kube.faults.fired(rule.id) == 1
    assert (await api.post(WIDGETS, widget())).status == 201  # count spent


async def test_server_errors_and_their_reasons(api: Api, kube: KubeEmulatorHandle) -> None:
    kube.faults.add(method="GET", path="/widgets/w1$", status=503, message="etcd leader changed", count=1)
    kube.faults.add(method="GET", path="/widgets/w1$", status=500, count=1)
    first, second = await api.get(f"{WIDGETS}/w1"), await api.get(f"{WIDGETS}/w1")
    assert (first.status, first.body["reason"], first.body["message"]) == (
        503,
        "ServiceUnavailable",
        "etcd leader changed",
    )
    assert (second.status, second.body["reason"]) == (500, "InternalError")
    assert (await api.get(f"{WIDGETS}/w1")).status == 404  # both rules spent: the API answers


async def test_probability_is_reproducible(api: Api, kube: KubeEmulatorHandle) -> None:
    kube.faults.add(path="/widgets$", status=503, probability=0.5, seed=7)
    statuses = [(await api.get(WIDGETS)).status for _ in range(20)]
    assert set(statuses) == {200, 503}
    kube.faults.clear()
    kube.faults.add(path="/widgets$", status=503, probability=0.5, seed=7)
    assert [(await api.get(WIDGETS)).status for _ in range(20)] == statuses


async def test_status_zero_only_delays(api: Api, kube: KubeEmulatorHandle) -> None:
    kube.faults.add(path="/widgets$", status=0, latency=0.2, count=1)
    started = time.monotonic()
    assert (await api.get(WIDGETS)).status == 200
    assert time.monotonic() - started >= 0.2


async def test_rules_can_target_one_user() -> None:
    async with serve_kube_emulator(rbac=True) as kube:
        kube.faults.add(path="/namespaces$", status=503, user="emulator-admin")
        other = kube.issue_token(
            kube.emulator.tokens.users[kube.admin_token or ""].__class__("other", ("system:masters",))
        )  # type: ignore[union-attr]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=kube.client_ssl())) as session:
            admin = {"Authorization": f"Bearer {kube.admin_token}"}
            async with session.get(kube.url + "/api/v1/namespaces", headers=admin) as resp:
                assert resp.status == 503
            async with session.get(
                kube.url + "/api/v1/namespaces", headers={"Authorization": f"Bearer {other}"}
            ) as resp:
                assert resp.status == 200
