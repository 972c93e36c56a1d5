"""RBAC mode: bearer tokens for users and ServiceAccounts, decided by the stored Roles and bindings."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from iap_sandbox.emulators.kube import rbac
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

from .conftest import GADGET_CRD, WIDGET_CRD, Api, widget

SA = ("ops", "robot")
USER = "system:serviceaccount:ops:robot"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def role(kind: str, name: str, *rules: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "rules": list(rules),
    }


def binding(
    kind: str,
    name: str,
    role_kind: str,
    role_name: str,
    namespace: str | None = None,
    subject: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": [subject or {"kind": "ServiceAccount", "name": SA[1], "namespace": SA[0]}],
    }


def rule(
    group: str, resources: list[str], verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {"apiGroups": [group], "resources": resources, "verbs": verbs}
    if names:
        found["resourceNames"] = names
    return found


@pytest.fixture
async def secured() -> AsyncIterator[KubeEmulatorHandle]:
    async with serve_kube_emulator(crds=[WIDGET_CRD, GADGET_CRD], rbac=True) as handle:
        for namespace in (SA[0], "team-a"):
            handle.ensure_namespace(namespace)
        yield handle


@pytest.fixture
async def robot(secured: KubeEmulatorHandle) -> AsyncIterator[Api]:
    token = secured.service_account_token(*SA)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=secured.client_ssl()), headers={"Authorization": f"Bearer {token}"}
    ) as session:
        yield Api(session, secured.url)


@pytest.fixture
async def admin(secured: KubeEmulatorHandle) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=secured.client_ssl()),
        headers={"Authorization": f"Bearer {secured.admin_token}"},
    ) as session:
        yield Api(session, secured.url)


WIDGETS_A = "/apis/example.com/v1/namespaces/team-a/widgets"


async def test_tokens_nobody_issued_are_401_and_no_token_is_anonymous(secured: KubeEmulatorHandle) -> None:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=secured.client_ssl()), headers={"Authorization": "Bearer forged"}
    ) as session:
        reply = await Api(session, secured.url).get("/api/v1/namespaces")
    assert (reply.status, reply.body["reason"]) == (401, "Unauthorized")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=secured.client_ssl())) as session:
        reply = await Api(session, secured.url).get("/api/v1/namespaces")
    assert reply.status == 403
    assert (
        'User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope'
        in reply.body["message"]
    )


async def test_nothing_is_allowed_without_a_grant_but_discovery(robot: Api) -> None:
    assert (await robot.get("/apis/example.com/v1")).status == 200
    assert (await robot.get("/openapi/v3")).status == 200
    reply = await robot.get(f"{WIDGETS_A}/w1")
    assert reply.status == 403
    assert reply.body["message"] == (
        f'widgets.example.com "w1" is forbidden: User "{USER}" cannot get resource "widgets" in API group '
        '"example.com" in the namespace "team-a"'
    )
    assert reply.body["details"] == {"name": "w1", "group": "example.com", "kind": "widgets"}


async def test_a_cluster_role_binding_grants_its_verbs_everywhere(
    admin: Api, robot: Api, secured: KubeEmulatorHandle
) -> None:
    secured.create(
        role("ClusterRole", "widgets", rule("example.com", ["widgets"], ["get", "list", "watch", "create"]))
    )
    secured.create(binding("ClusterRoleBinding", "robot-widgets", "ClusterRole", "widgets"))
    assert (await robot.post(WIDGETS_A, widget())).status == 201
    assert (await robot.get(f"{WIDGETS_A}/w1")).status == 200
    assert (await robot.get("/apis/example.com/v1/widgets")).status == 200  # all namespaces
    assert len(await robot.watch(WIDGETS_A, count=1)) == 1
    denied = await robot.delete(f"{WIDGETS_A}/w1")
    assert denied.status == 403
    assert 'cannot delete resource "widgets"' in denied.body["message"]
    assert (
        (await robot.delete(WIDGETS_A))
        .body["message"]
        .endswith(
            'cannot deletecollection resource "widgets" in API group "example.com" in the namespace "team-a"'
        )
    )


async def test_a_role_binding_grants_only_in_its_namespace(robot: Api, secured: KubeEmulatorHandle) -> None:
    secured.create(role("ClusterRole", "reader", rule("", ["secrets"], ["get"])))
    secured.create(binding("RoleBinding", "robot-reader", "ClusterRole", "reader", namespace="team-a"))
    secured.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team-a"}})
    secured.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ops"}})
    assert (await robot.get("/api/v1/namespaces/team-a/secrets/s")).status == 200
    assert (await robot.get("/api/v1/namespaces/ops/secrets/s")).status == 403
    assert (await robot.get("/api/v1/namespaces/team-a/secrets")).status == 403  # list is not get


async def test_roles_of_another_namespace_do_not_count(robot: Api, secured: KubeEmulatorHandle) -> None:
    secured.create(role("Role", "reader", rule("", ["secrets"], ["get"]), namespace="ops"))
    secured.create(binding("RoleBinding", "robot-reader", "Role", "reader", namespace="team-a"))
    secured.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team-a"}})
    assert (await robot.get("/api/v1/namespaces/team-a/secrets/s")).status == 403


async def test_resource_names_limit_get_and_update_but_not_create(
    robot: Api, secured: KubeEmulatorHandle
) -> None:
    lease = "/apis/coordination.k8s.io/v1/namespaces/ops/leases"
    secured.create(
        role(
            "Role", "lease",
            rule("coordination.k8s.io", ["leases"], ["create"]),
            rule("coordination.k8s.io", ["leases"], ["get", "list"], names=["mine"]),
            namespace="ops",
        )
    )  # fmt: skip
    secured.create(binding("RoleBinding", "robot-lease", "Role", "lease", namespace="ops"))
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {}}
    assert (await robot.post(lease, {**body, "metadata": {"name": "mine"}})).status == 201
    assert (await robot.post(lease, {**body, "metadata": {"name": "other"}})).status == 201
    assert (await robot.get(f"{lease}/mine")).status == 200
    assert (await robot.get(f"{lease}/other")).status == 403
    assert (await robot.get(lease)).status == 403
    assert (await robot.get(lease, fieldSelector="metadata.name=mine")).status == 200


async def test_subresources_are_separate_resources(
    robot: Api, admin: Api, secured: KubeEmulatorHandle
) -> None:
    secured.create(role("ClusterRole", "status", rule("example.com", ["widgets/status"], ["patch"])))
    secured.create(binding("ClusterRoleBinding", "robot-status", "ClusterRole", "status"))
    assert (await admin.post(WIDGETS_A, widget())).status == 201
    assert (await robot.patch(f"{WIDGETS_A}/w1/status", {"status": {"phase": "x"}})).status == 200
    denied = await robot.patch(f"{WIDGETS_A}/w1", {"spec": {"size": 2}})
    assert denied.status == 403
    secured.create(role("ClusterRole", "any-status", rule("example.com", ["*/status"], ["get"])))
    secured.create(binding("ClusterRoleBinding", "robot-any-status", "ClusterRole", "any-status"))
    assert (await robot.get(f"{WIDGETS_A}/w1/status")).status == 200


async def test_group_subjects(robot: Api, secured: KubeEmulatorHandle) -> None:
    secured.create(role("ClusterRole", "ns", rule("", ["namespaces"], ["list"])))
    secured.create(
        binding(
            "ClusterRoleBinding",
            "all-sa",
            "ClusterRole",
            "ns",
            subject={"kind": "Group", "name": "system:serviceaccounts:ops"},
        )
    )
    assert (await robot.get("/api/v1/namespaces")).status == 200


async def test_decisions_name_the_grant_that_allowed_each_request(
    robot: Api, secured: KubeEmulatorHandle
) -> None:
    secured.create(role("ClusterRole", "widgets", rule("example.com", ["widgets"], ["list"])))
    secured.create(binding("ClusterRoleBinding", "robot-widgets", "ClusterRole", "widgets"))
    await robot.get(WIDGETS_A)
    await robot.get(f"{WIDGETS_A}/w1")
    allowed, denied = secured.decisions[-2:]
    assert allowed.allowed
    assert allowed.grant is not None
    assert (allowed.grant.binding, allowed.grant.role) == (
        "ClusterRoleBinding/robot-widgets",
        "ClusterRole/widgets",
    )
    assert (allowed.attributes.verb, allowed.attributes.resource) == ("list", "widgets")
    assert not denied.allowed
    assert denied.grant is None


def test_request_attributes_follow_the_request_info_factory() -> None:
    user = rbac.ANONYMOUS
    cases = {
        ("GET", "/api/v1/namespaces/a/pods"): ("list", "", "pods", "", "a", ""),
        ("GET", "/api/v1/namespaces/a/pods/p/log"): ("get", "", "pods", "log", "a", "p"),
        ("POST", "/apis/apps/v1/namespaces/a/deployments"): ("create", "apps", "deployments", "", "a", ""),
        ("DELETE", "/api/v1/namespaces/a/pods"): ("deletecollection", "", "pods", "", "a", ""),
        ("GET", "/api/v1/namespaces/a"): ("get", "", "namespaces", "", "a", "a"),
        ("PUT", "/api/v1/namespaces/a/finalize"): ("update", "", "namespaces", "finalize", "a", "a"),
        ("PATCH", "/apis/x.io/v1/things/t/status"): ("patch", "x.io", "things", "status", "", "t"),
    }
    for (method, path), expected in cases.items():
        found = rbac.attributes(method, path, {}, user)
        got = (found.verb, found.api_group, found.resource, found.subresource, found.namespace, found.name)
        assert got == expected, (method, path)
    assert rbac.attributes("GET", "/api/v1/pods", {"watch": "true"}, user).verb == "watch"


async def test_kubectl_uses_the_admin_token(secured: KubeEmulatorHandle, tmp_path: Any) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    config = secured.write_kubeconfig(tmp_path / "kubeconfig")
    process = await asyncio.create_subprocess_exec(
        "kubectl", f"--kubeconfig={config}", f"--cache-dir={tmp_path / 'cache'}", "get", "widgets", "-A",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
