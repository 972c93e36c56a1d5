"""Both emulators and the real operator (kopf loop, real HTTP, real clients) in the test's event loop."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import functools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from iap_operator.wiring.config import Config
from iap_sandbox.emulators.gcp.testing import EmulatorHandle
from iap_sandbox.emulators.kube.rbac import Decision
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle
from iap_sandbox.sandbox import emulators, operator_thread

GROUP, VERSION, PLURAL = "iap-operator.dev", "v1alpha1", "iapprotectedservices"
PROJECT, NUMBER, REGION = "demo-project", "123456789012", "us-central1"
RUN_PATH = f"v2/projects/{PROJECT}/locations/{REGION}/services/hello"
MULTI_REGIONS = (REGION, "europe-west1", "asia-northeast1")
FOREIGN = "user:ops@example.com"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
READ_VERBS = (":getIamPolicy", ":testIamPermissions", "/wait")  # POSTs that only read
REPO = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE, OPERATOR_ACCOUNT = "iap-operator-system", "iap-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
RBAC_KINDS = frozenset(
    {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount", "Namespace"}
)


@functools.cache
def deploy_rbac(path: str = "deploy/base") -> tuple[dict[str, Any], ...]:
    """The RBAC of a kustomization, rendered by `kubectl kustomize` (or, without kubectl, read from the
    files its `resources` list: kustomize only adds labels to these kinds; tests/deploy checks both agree).
    """
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return rbac_files(path)
    done = subprocess.run(
        [kubectl, "kustomize", str(REPO / path)], capture_output=True, text=True, check=True, timeout=60
    )
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d and d.get("kind") in RBAC_KINDS)


def rbac_files(path: str = "deploy/base") -> tuple[dict[str, Any], ...]:
    """The RBAC objects of the files a kustomization's `resources` lists, as written."""
    folder = REPO / path
    listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
    documents = [d for name in listed for d in yaml.safe_load_all((folder / name).read_text())]
    return tuple(d for d in documents if d and d.get("kind") in RBAC_KINDS)


def seed() -> dict[str, Any]:
    return {
        "projects": [
            {
                "projectId": PROJECT,
                "projectNumber": NUMBER,
                "cloudRunServices": [
                    {"name": "hello", "region": REGION},
                    {"name": "billing", "region": REGION},
                    # One service in several regions (cloudRun.regions; tests/e2e/test_multi_region.py).
                    *({"name": "atlas", "region": r} for r in MULTI_REGIONS),
                ],
                "iamPolicies": {
                    RUN_PATH: {"bindings": [{"role": "roles/run.invoker", "members": [FOREIGN]}]}
                },
            }
        ],
        # Every test domain resolves to the load balancer that serves it (managed certificates need it).
        "dns": {"*.example.com": "auto"},
    }


def protected(name: str = "hello", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IapProtectedService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "projectId": PROJECT,
            "cloudRun": {"service": "hello", "region": REGION},
            "loadBalancer": {"domains": ["hello.example.com"]},
            "access": {"members": ["user:alice@example.com", "group:devs@example.com"]},
        },
    }
    body["spec"].update(spec)
    return body


@dataclass
class World:
    gcp: EmulatorHandle
    kube_url: str
    session: aiohttp.ClientSession  # an admin's (RBAC mode: cluster-admin token over HTTPS)
    config: Config
    kube: KubeEmulatorHandle | None = None
    _operator: contextlib.AbstractAsyncContextManager[None] | None = None

    def operator_decisions(self) -> list[Decision]:
        """Every request the operator's ServiceAccount made (RBAC mode), with the grant that allowed it."""
        decisions = self.kube.decisions if self.kube is not None else []
        return [d for d in decisions if d.attributes.user.name == OPERATOR_USER]

    def denied(self) -> list[Decision]:
        return [d for d in self.operator_decisions() if not d.allowed]

    # --- Kubernetes ---------------------------------------------------------------------------------

    def _path(self, name: str = "", ns: str = "default") -> str:
        return f"{self.kube_url}/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}" + (
            f"/{name}" if name else ""
        )

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        async with self.session.post(self._path(), json=body) as resp:
            data: dict[str, Any] = await resp.json(content_type=None)
            assert resp.status in {200, 201}, data
            return data

    async def get(self, name: str = "hello") -> dict[str, Any] | None:
        async with self.session.get(self._path(name)) as resp:
            return None if resp.status == 404 else dict(await resp.json(content_type=None))

    async def patch_spec(self, name: str, spec: Mapping[str, Any]) -> None:
        headers = {"Content-Type": "application/merge-patch+json"}
        async with self.session.patch(self._path(name), json={"spec": spec}, headers=headers) as resp:
            assert resp.status == 200, await resp.text()

    async def delete(self, name: str = "hello") -> None:
        async with self.session.delete(self._path(name)) as resp:
            assert resp.status in {200, 202}, await resp.text()

    async def create_secret(self, name: str, data: Mapping[str, str]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": "default"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        async with self.session.post(f"{self.kube_url}/api/v1/namespaces/default/secrets", json=body) as resp:
            assert resp.status in {200, 201}, await resp.text()

    async def events(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.kube_url}/api/v1/namespaces/default/events") as resp:
            return list((await resp.json(content_type=None)).get("items") or [])

    async def _watch(self, collection: str, field_selector: str = "") -> AsyncIterator[tuple[str, Any]]:
        """The current items as ADDED, then every change: a list for the resourceVersion, then a watch."""
        query = f"?fieldSelector={field_selector}" if field_selector else ""
        async with self.session.get(collection + query) as resp:
            listing = await resp.json(content_type=None)
        for item in listing.get("items") or []:
            yield "ADDED", item
        version = listing["metadata"]["resourceVersion"]
        sep = "&" if query else "?"
        url = f"{collection}{query}{sep}watch=true&resourceVersion={version}"
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for line in resp.content:
                if line.strip():
                    event = json.loads(line)
                    yield event["type"], event["object"]

    async def wait_event(self, reason: str, within: float = 10) -> dict[str, Any]:
        """Events are posted in the background: watch (bounded) until one with `reason` arrives."""
        seen: list[str] = []
        try:
            async with asyncio.timeout(within):
                events = self._watch(f"{self.kube_url}/api/v1/namespaces/default/events")
                async with contextlib.aclosing(events):  # close the watch at once, not at GC time
                    async for _, event in events:
                        seen.append(str(event.get("reason")))
                        if event.get("reason") == reason:
                            return dict(event)
        except TimeoutError:
            pass
        raise AssertionError(f"no {reason} event within {within}s; saw {sorted(set(seen))}")

    async def wait_for(
        self, predicate: Callable[[dict[str, Any] | None], bool], name: str = "hello", within: float = 20
    ) -> dict[str, Any] | None:
        """Watch the object until `predicate` holds (bounded); fail with the last seen status.

        Predicates may also look at GCP: every pass ends with a status write, so a watch event follows
        whatever the operator changed there.
        """
        obj: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(within):
                if predicate(obj := await self.get(name)):
                    return obj
                changes = self._watch(self._path(), f"metadata.name%3D{name}")
                async with contextlib.aclosing(changes):  # close the watch at once, not at GC time
                    async for kind, item in changes:
                        obj = None if kind == "DELETED" else item
                        if predicate(obj):
                            return obj
        except TimeoutError:
            pass
        raise AssertionError(f"timed out after {within}s; last seen: {obj and obj.get('status')}")

    async def wait_ready(self, name: str = "hello", within: float = 20) -> dict[str, Any]:
        obj = await self.wait_for(lambda o: o is not None and is_ready(o), name, within)
        assert obj is not None
        return obj

    # --- GCP ----------------------------------------------------------------------------------------

    def compute(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.gcp.state().items() if k.startswith("compute/") and "/operations/" not in k
        }

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        return [
            r
            for r in self.gcp.requests()[since:]
            if r["method"] in WRITES and "/emulator/" not in r["path"] and not r["path"].endswith(READ_VERBS)
        ]

    def policy(self, path: str) -> dict[str, Any]:
        return copy.deepcopy(self.gcp.state().get(f"{path}:iamPolicy") or {})

    # --- the operator -------------------------------------------------------------------------------

    async def start(self, **overrides: Any) -> None:
        if overrides:
            self.config = Config(**{**self.config.__dict__, **overrides})
        self._operator = operator_thread(self.config)
        await self._operator.__aenter__()

    async def stop(self) -> None:
        if self._operator is not None:
            operator, self._operator = self._operator, None
            await operator.__aexit__(None, None, None)


def is_ready(obj: Mapping[str, Any]) -> bool:
    status = obj.get("status") or {}
    return (
        status.get("observedGeneration") == obj["metadata"].get("generation")
        and condition(obj, "Ready") == "True"
    )


def condition(obj: Mapping[str, Any] | None, type_: str, field_: str = "status") -> str | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return str(c[field_])
    return None


# The operator's configuration in these tests: fast polls and backoff, resync only when asked.
OPERATOR_DEFAULTS: dict[str, Any] = {
    "default_project": PROJECT,
    "allowed_projects": "default=demo-project",
    "poll_interval": 0.2,
    "missing_retry": 0.2,
    "backoff_base": 0.05,
    "backoff_max": 0.5,
    "resync_tick": 0.2,
    "resync_override": 3600.0,
    "worker_idle_timeout": 0.5,
    "worker_exit_timeout": 0.5,
}


def install_rbac(kube: KubeEmulatorHandle, objects: tuple[dict[str, Any], ...]) -> str:
    """Install the RBAC objects; a token for the operator's ServiceAccount."""
    kube.ensure_namespace(OPERATOR_NAMESPACE)
    for obj in objects:
        if obj["kind"] == "Namespace":
            kube.ensure_namespace(obj["metadata"]["name"])
        else:
            kube.create(obj)
    return kube.service_account_token(OPERATOR_NAMESPACE, OPERATOR_ACCOUNT)


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path,
    monkeypatch: Any,
    *,
    start: bool = True,
    rbac: bool = True,
    allow_denied: bool = False,
    **config: Any,
) -> AsyncIterator[World]:
    """Both emulators and (with `start`) the operator. With `rbac` (the default) the Kubernetes API
    enforces RBAC and the operator runs as its ServiceAccount with exactly the RBAC of deploy/base:
    any request it makes that RBAC refuses fails the test (unless `allow_denied`).
    """
    async with emulators(tmp_path / "kubeconfig", seed(), rbac=rbac) as emu:
        headers = {"Authorization": f"Bearer {emu.kube.admin_token}"} if emu.kube.admin_token else {}
        connector = aiohttp.TCPConnector(ssl=emu.kube.client_ssl() or True)
        session = aiohttp.ClientSession(headers=headers, connector=connector)
        if rbac:  # the operator logs in as its ServiceAccount; the test keeps the admin session
            token = install_rbac(emu.kube, deploy_rbac())
            emu.kube.write_kubeconfig(emu.kubeconfig, token=token)
        monkeypatch.setenv("KUBECONFIG", str(emu.kubeconfig))
        w = World(emu.gcp, emu.kube.url, session, emu.config(**{**OPERATOR_DEFAULTS, **config}), emu.kube)
        try:
            if start:
                await w.start()
            yield w
        finally:
            await w.stop()
            await session.close()
        warned = [entry for entry in emu.kube.emulator.warned if entry[0] == OPERATOR_USER]
        assert not warned, f"the API warned the operator (fields the CRD does not declare?): {warned}"
        denied = [] if allow_denied else w.denied()
        assert not denied, "RBAC refused the operator: " + "; ".join(
            f"{d.attributes.verb} {d.attributes.combined_resource} in {d.attributes.namespace or '<cluster>'}"
            for d in denied
        )
