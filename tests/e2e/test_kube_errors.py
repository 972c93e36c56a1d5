"""The operator's own Kubernetes calls failing: RBAC refusals, API Priority and Fairness, a failing teardown.

The Kubernetes emulator enforces deploy/base's RBAC; grants are taken away or faults injected per test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.argocd import argocd_health
from tests.deploy.kstatus import kstatus, kstatus_violations
from tests.e2e.harness import OPERATOR_USER, World, condition, protected, world

pytestmark = pytest.mark.timeout(60)
RBAC = "/apis/rbac.authorization.k8s.io/v1"
OAUTH = {"client_id": "1234.apps.googleusercontent.com", "client_secret": "not-logged"}


async def operator_events(w: World, reason: str | None = None) -> list[dict[str, Any]]:
    events = [e for e in await w.events() if e.get("reportingComponent") == "iap-operator"]
    return [e for e in events if reason is None or e["reason"] == reason]


async def remove_rule(w: World, role: str, resource: str) -> dict[str, Any]:
    """Take `resource` out of ClusterRole `role`; the original rules, to put back."""
    async with w.session.get(f"{w.kube_url}{RBAC}/clusterroles/{role}") as resp:
        original = await resp.json()
    rules = [r for r in original["rules"] if resource not in r["resources"]]
    headers = {"Content-Type": "application/merge-patch+json"}
    url = f"{w.kube_url}{RBAC}/clusterroles/{role}"
    async with w.session.patch(url, data=json.dumps({"rules": rules}), headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    return dict(original)


async def test_a_refused_secret_read_is_permission_denied_with_the_binding_to_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As deploy/overlays/example without a RoleBinding for this namespace: no Secret access here.
    async with world(tmp_path, monkeypatch, allow_denied=True, resync_override=0.3) as w:
        async with w.session.delete(
            f"{w.kube_url}{RBAC}/clusterrolebindings/iap-operator-secret-reader"
        ) as resp:
            assert resp.status == 200
        await w.create_secret("oauth", OAUTH)
        mark = len(w.gcp.requests())
        await w.create(protected(oauthClient={"secretRef": {"name": "oauth"}}))
        obj = await w.wait_for(lambda o: condition(o, "Ready", "reason") == "PermissionDenied")
        message = str(condition(obj, "Ready", "message"))
        assert f"does not allow {OPERATOR_USER} to get secrets 'oauth'" in message
        assert "in namespace 'default'" in message
        assert (
            "kubectl create rolebinding iap-operator-secret-reader -n default "
            "--clusterrole=iap-operator-secret-reader --serviceaccount=iap-operator-system:iap-operator"
        ) in message
        assert condition(obj, "Stalled") == "True"
        assert kstatus(obj)[0] == "Failed"
        assert argocd_health(obj)[0] == "Degraded"
        assert w.writes(mark) == []  # nothing is built without the custom client
        # Resyncs retry (every 0.3 s here) and fail the same way: still one Event for the generation.
        await w.wait_for(lambda _: len(w.denied()) >= 3)
        (event,) = await operator_events(w, "PermissionDenied")
        assert event["type"] == "Warning"
        assert event["source"] == {"component": "iap-operator"}
        assert event["involvedObject"]["name"] == "hello"

        # The binding the message names heals it, without a spec change.
        role = "iap-operator-secret-reader"
        binding = {
            "metadata": {"name": role, "namespace": "default"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [
                {"kind": "ServiceAccount", "name": "iap-operator", "namespace": "iap-operator-system"}
            ],
        }
        async with w.session.post(
            f"{w.kube_url}{RBAC}/namespaces/default/rolebindings", json=binding
        ) as resp:
            assert resp.status == 201, await resp.text()
        await w.wait_ready(within=30)


async def test_a_refused_status_write_is_reported_in_an_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch, allow_denied=True) as w:
        original = await remove_rule(w, "iap-operator", "iapprotectedservices/status")
        await w.create(protected())
        event = await w.wait_event("PermissionDenied", within=20)
        assert event["reportingComponent"] == "iap-operator"
        assert (
            "patch iapprotectedservices/status 'hello' (API group \"iap-operator.dev\")" in event["message"]
        )
        assert "--clusterrole=iap-operator" in event["message"]
        denied = {(d.attributes.verb, d.attributes.combined_resource) for d in w.denied()}
        assert denied == {("patch", "iapprotectedservices/status")}
        # The grant back: the next status write lands (kopf retries its own patch).
        headers = {"Content-Type": "application/merge-patch+json"}
        url = f"{w.kube_url}{RBAC}/clusterroles/iap-operator"
        async with w.session.patch(
            url, data=json.dumps({"rules": original["rules"]}), headers=headers
        ) as resp:
            assert resp.status == 200
        await w.wait_ready(within=40)


async def test_priority_and_fairness_429s_are_waited_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch, start=False) as w:
        assert w.kube is not None
        rule = w.kube.faults.add(
            method="GET", path="/secrets/oauth$", status=429, retry_after=1, count=2, user=OPERATOR_USER
        )
        status = w.kube.faults.add(method="PATCH", path="/status$", status=503, count=1, user=OPERATOR_USER)
        await w.create_secret("oauth", OAUTH)
        await w.start()
        await w.create(protected(oauthClient={"secretRef": {"name": "oauth"}}))
        obj = await w.wait_ready(within=40)
        assert w.kube.faults.fired(rule.id) == 2
        assert w.kube.faults.fired(status.id) == 1
        assert condition(obj, "Ready", "reason") == "UpToDate"
        assert await operator_events(w, "ApiError") == []  # retried inside the call, no failure to report


async def test_a_failure_retried_many_times_is_one_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No per-call retries: each 503 fails a whole pass, retried by the pass-level backoff.
    async with world(tmp_path, monkeypatch, start=False, gcp_call_deadline=0.0) as w:
        fault = w.gcp.add_fault(method="POST", path=r"/global/backendServices$", status=503, count=4)
        await w.start()
        await w.create(protected())
        await w.wait_ready(within=40)
        assert fault
        failures = await operator_events(w, "ApiError")
        assert len(failures) == 1, [e["message"] for e in failures]
        every = await w.events()
        assert every, "the operator posts Events"
        assert all(e.get("source", {}).get("component") == "iap-operator" for e in every)


async def test_a_failing_teardown_shows_its_message_not_a_generation_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected())
        await w.wait_ready()
        w.gcp.add_fault(
            method="DELETE", path=r"/forwardingRules/", status=403, message="forwarding rule locked"
        )
        await w.delete()
        obj = await w.wait_for(lambda o: condition(o, "Ready", "reason") == "DeleteFailed")
        assert obj is not None
        assert obj["metadata"]["generation"] == 2  # deletion started: a new generation
        assert obj["status"]["observedGeneration"] == 2
        assert kstatus_violations(obj) == []
        assert kstatus(obj)[0] == "Terminating"
        health, message = argocd_health(obj)
        assert health == "Progressing"
        assert "forwarding rule locked" in message
        assert "generation" not in message
        w.gcp.clear_faults()
        await w.wait_for(lambda o: o is None, within=30)
