"""Both emulators and the real operator (kopf loop, real HTTP, real clients) in the test's event loop."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from iap_operator.wiring.config import Config
from iap_sandbox.emulators.gcp.testing import EmulatorHandle
from iap_sandbox.sandbox import emulators, operator_thread

GROUP, VERSION, PLURAL = "iap-operator.dev", "v1alpha1", "iapprotectedservices"
PROJECT, NUMBER, REGION = "demo-project", "123456789012", "us-central1"
RUN_PATH = f"v2/projects/{PROJECT}/locations/{REGION}/services/hello"
FOREIGN = "user:ops@example.com"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
READ_VERBS = (":getIamPolicy", ":testIamPermissions", "/wait")  # POSTs that only read


def seed() -> dict[str, Any]:
    return {
        "projects": [
            {
                "projectId": PROJECT,
                "projectNumber": NUMBER,
                "cloudRunServices": [
                    {"name": "hello", "region": REGION},
                    {"name": "billing", "region": REGION},
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
    session: aiohttp.ClientSession
    config: Config
    _operator: contextlib.AbstractAsyncContextManager[None] | None = None

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


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path, monkeypatch: Any, *, start: bool = True, **config: Any
) -> AsyncIterator[World]:
    async with (
        emulators(tmp_path / "kubeconfig", seed()) as emu,
        aiohttp.ClientSession() as session,
    ):
        monkeypatch.setenv("KUBECONFIG", str(emu.kubeconfig))
        w = World(emu.gcp, emu.kube.url, session, emu.config(**{**OPERATOR_DEFAULTS, **config}))
        if start:
            await w.start()
        try:
            yield w
        finally:
            await w.stop()
