"""Least privilege, proven by the calls the operator makes: `iap-operator run` as its ServiceAccount,
RBAC enforced with exactly deploy/base's Roles and bindings, through a whole life cycle. Every call must be
granted (the harness fails a test on any refusal) and every grant must be used by some call."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import OPERATOR_NAMESPACE, World, deploy_rbac, is_ready, protected, world
from tests.e2e.processes import operator_process

from iap_sandbox.emulators.kube.rbac import Decision

pytestmark = pytest.mark.timeout(90)
NAMESPACE = "team-a"
Atom = tuple[str, str, str, str]  # (role, apiGroup, resource, verb)


def atoms(objects: tuple[dict[str, Any], ...]) -> Iterator[tuple[Atom, tuple[str, ...]]]:
    """Each (role, group, resource, verb) a bound role grants the operator, with its resourceNames."""
    bound = {
        (
            b["roleRef"]["kind"],
            b["roleRef"]["name"],
            b["metadata"].get("namespace") if b["roleRef"]["kind"] == "Role" else None,
        )
        for b in objects
        if b["kind"] in {"RoleBinding", "ClusterRoleBinding"}
    }
    for role in objects:
        if role["kind"] not in {"Role", "ClusterRole"}:
            continue
        namespace = role["metadata"].get("namespace")
        name = (
            f"{role['kind']}/{namespace}/{role['metadata']['name']}"
            if namespace
            else f"ClusterRole/{role['metadata']['name']}"
        )
        if (role["kind"], role["metadata"]["name"], namespace) not in bound:
            continue
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        yield (name, group, resource, verb), tuple(rule.get("resourceNames") or ())


def used(decisions: list[Decision]) -> set[Atom]:
    found: set[Atom] = set()
    for d in decisions:
        if d.grant is not None:
            a = d.attributes
            found.add((d.grant.role, a.api_group, a.combined_resource, a.verb))
    return found


async def life_cycle(w: World, tmp_path: Path) -> None:
    async with w.session.post(
        f"{w.kube_url}/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}
    ) as resp:
        assert resp.status == 201, await resp.text()
    secret = {
        "metadata": {"name": "oauth", "namespace": NAMESPACE},
        "data": {
            "client_id": base64.b64encode(b"123-abc.apps.googleusercontent.com").decode(),
            "client_secret": base64.b64encode(b"s3cr3t").decode(),
        },
    }
    async with w.session.post(f"{w.kube_url}/api/v1/namespaces/{NAMESPACE}/secrets", json=secret) as resp:
        assert resp.status == 201, await resp.text()
    env = {
        "IAP_OPERATOR_ALLOWED_PROJECTS": f"{NAMESPACE}=demo-project",
        "IAP_OPERATOR_NAMESPACES": "team-*",
        "IAP_OPERATOR_RESYNC_OVERRIDE": "1",  # a resync happens (the scheduler reads the object first)
    }
    args = ("--lease-name=iap-operator-leader", f"--lease-namespace={OPERATOR_NAMESPACE}")
    async with operator_process(w, tmp_path, *args, env=env) as operator:
        body = protected(oauthClient={"secretRef": {"name": "oauth"}})
        body["metadata"]["namespace"] = NAMESPACE
        path = f"{w.kube_url}/apis/iap-operator.dev/v1alpha1/namespaces/{NAMESPACE}/iapprotectedservices"
        async with w.session.post(path, json=body) as resp:
            assert resp.status == 201, await resp.text()
        await wait(w, path + "/hello", lambda o: o is not None and is_ready(o), operator.output)
        async with w.session.get(path + "/hello") as resp:
            synced = (await resp.json())["status"]["lastSyncTime"]
        await wait(w, path + "/hello", lambda o: o["status"].get("lastSyncTime") != synced, operator.output)
        patch = {"spec": {"access": {"members": ["user:carol@example.com"]}}}
        headers = {"Content-Type": "application/merge-patch+json"}
        async with w.session.patch(path + "/hello", data=json.dumps(patch), headers=headers) as resp:
            assert resp.status == 200
        await wait(
            w,
            path + "/hello",
            lambda o: o is not None and is_ready(o) and o["metadata"]["generation"] == 2,
            operator.output,
        )
        async with w.session.delete(path + "/hello") as resp:
            assert resp.status in {200, 202}
        await wait(w, path + "/hello", lambda o: o is None, operator.output)


async def wait(w: World, url: str, predicate: Any, output: Any, within: float = 40) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with w.session.get(url) as resp:
            obj = None if resp.status == 404 else await resp.json()
        if predicate(obj):
            return
        assert asyncio.get_running_loop().time() < deadline, (
            f"{obj and obj.get('status')}\n{output()[-3000:]}"
        )
        await asyncio.sleep(0.1)


async def test_every_call_is_granted_and_every_grant_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch, start=False) as w:
        await life_cycle(w, tmp_path)
        decisions = w.operator_decisions()
    assert decisions, "the operator's calls were recorded"
    granted = dict(atoms(deploy_rbac()))
    unused = sorted(atom for atom in granted if atom not in used(decisions))
    assert unused == [], "grants in deploy/base that no call used: " + ", ".join(
        f"{role}: {verb} {group or 'core'}/{resource}" for role, group, resource, verb in unused
    )
