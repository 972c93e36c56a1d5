"""docs/operations.md's permission table is what the operator calls: a recorded run of every mode and
every kind of change (create, drift repair of each kind, spec change, delete, Abandon, attach to global
and regional backend services, Direct), with operation latency so that waits and polls happen too.

The GCP emulator's request log of the run, mapped to Google's discovery methods, must equal the methods
the table documents: a call made but undocumented fails, and so does a documented call never made.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from tests.e2e.harness import GROUP, NUMBER, PLURAL, PROJECT, REGION, VERSION, World, protected, seed

from iap_sandbox.emulators.gcp.conformance import DiscoveryMethod, default_validator
from iap_sandbox.sandbox import emulators

pytestmark = pytest.mark.timeout(120)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
SECTION = "### Permissions, from the API calls the operator makes"
# Long-running operations that do not finish at once, so that the operator waits and polls.
LATENCY = {("compute", "*", "*"): 0.05, ("run", "*", "*"): 0.05, ("serviceusage", "*", "*"): 0.05}
COMPUTE = f"compute/v1/projects/{PROJECT}"
SETUP = {"setup": "test"}  # marks the test's own requests in the log (not the operator's calls)


def documented_methods(text: str, *, conditional: bool = True) -> set[str]:
    """The discovery method ids in the first column of the table under SECTION (without the rows marked
    *conditional* when `conditional` is False)."""
    section = text.split(SECTION, 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    rows = [row for row in rows if conditional or "*conditional*" not in row]
    return {m for row in rows for m in re.findall(r"`([a-z]+\.[A-Za-z.]+)`", row.split("|")[2])}


def method_of(http_method: str, path: str) -> str:
    """Google's discovery method of one request. Paths like `v1/{+resource}:getIamPolicy` fit several
    APIs on the emulator's single port: keep the candidates whose collections all appear in the path."""
    candidates: list[DiscoveryMethod] = default_validator().match(http_method, path)
    if len({m.method_id for m in candidates}) == 1:
        return candidates[0].method_id
    segments = set(path.strip("/").split("/"))

    def fits(method: DiscoveryMethod) -> int | None:
        collections = method.method_id.split(".")[1:-1]
        return len(collections) if all(c in segments for c in collections) else None

    scored = [(score, m.method_id) for m in candidates if (score := fits(m)) is not None]
    assert scored, f"no discovery method for {http_method} {path}"
    best = max(score for score, _ in scored)
    (method,) = {m for score, m in scored if score == best}
    return method


def methods(requests: Iterable[dict[str, Any]]) -> set[str]:
    return {
        method_of(r["method"], r["path"])
        for r in requests
        if not r["path"].startswith("/emulator/") and r["query"].get("setup") != "test"
    }


@contextlib.asynccontextmanager
async def recorded_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with (
        emulators(tmp_path / "kubeconfig", seed(), latency=LATENCY) as emu,
        aiohttp.ClientSession() as session,
    ):
        monkeypatch.setenv("KUBECONFIG", str(emu.kubeconfig))
        config = emu.config(
            default_project=PROJECT,
            allowed_projects="default=demo-project",
            poll_interval=0.1,
            missing_retry=0.2,
            backoff_base=0.05,
            backoff_max=0.5,
            resync_tick=0.2,
            resync_override=1.0,  # the periodic resyncs read the shared lists (`*.list`)
            worker_idle_timeout=0.5,
            worker_exit_timeout=0.5,
        )
        w = World(emu.gcp, emu.kube.url, session, config)
        await w.start()
        try:
            yield w
        finally:
            await w.stop()


async def resynced(w: World, name: str, obj: dict[str, Any]) -> None:
    """Wait for one periodic resync of `name` after `obj` (the resync reads the shared lists)."""
    last = obj["status"]["lastSyncTime"]
    await w.wait_for(lambda o: o is not None and o["status"].get("lastSyncTime") != last, name, within=10)


async def reconcile_now(w: World, name: str) -> None:
    """What `kubectl annotate ... reconcile.iap-operator.dev/requested-at=...` does."""
    body = {"metadata": {"annotations": {"reconcile.iap-operator.dev/requested-at": str(len(w.writes()))}}}
    headers = {"Content-Type": "application/merge-patch+json"}
    url = f"{w.kube_url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/{name}"
    async with w.session.patch(url, json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


def by_suffix(obj: dict[str, Any], kind: str, suffix: str) -> str:
    (name,) = [
        r["name"] for r in obj["status"]["resources"] if r["kind"] == kind and r["name"].endswith(suffix)
    ]
    return str(name)


async def existing_backend(w: World, name: str, region: str | None) -> None:
    """A backend service someone else built in front of `billing` (global, or regional)."""

    async def insert(where: str, collection: str, body: dict[str, Any]) -> None:
        base = f"{w.gcp.url}/{COMPUTE}/{where}"
        async with w.session.post(f"{base}/{collection}", json=body, params=SETUP) as resp:
            operation = await resp.json()
            assert resp.status == 200, operation
        while operation["status"] != "DONE":  # what gcloud does: wait on the operation
            async with w.session.post(f"{base}/operations/{operation['name']}/wait", params=SETUP) as resp:
                operation = await resp.json()
        assert "error" not in operation, operation

    neg = {"name": f"{name}-neg", "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "billing"}}
    await insert(f"regions/{REGION}", "networkEndpointGroups", neg)
    backend = {
        "name": name,
        "loadBalancingScheme": "EXTERNAL_MANAGED" if region else "EXTERNAL",
        "protocol": "HTTPS",
        "backends": [{"group": f"projects/{PROJECT}/regions/{REGION}/networkEndpointGroups/{name}-neg"}],
    }
    await insert(f"regions/{region}" if region else "global", "backendServices", backend)


async def tour(w: World) -> None:
    """Every call the operator makes, through what users do."""
    # LoadBalancer mode, then drift in every kind it can repair in place.
    await w.create(protected())
    obj = await w.wait_ready(within=30)
    await resynced(w, "hello", obj)
    um, redirect = by_suffix(obj, "UrlMap", "-um"), by_suffix(obj, "UrlMap", "-um-redirect")
    https, http = by_suffix(obj, "TargetHttpsProxy", "-https"), by_suffix(obj, "TargetHttpProxy", "-http")
    rule = by_suffix(obj, "GlobalForwardingRule", "-fr-https")
    backend = obj["status"]["backendService"]["name"]
    link = f"projects/{PROJECT}/global"
    w.gcp.mutate(f"{COMPUTE}/global/backendServices/{backend}", {"iap": {"enabled": False}})
    await existing_backend(w, "team-global", None)  # someone's: the URL map is pointed at it
    w.gcp.mutate(f"{COMPUTE}/global/urlMaps/{um}", {"defaultService": f"{link}/backendServices/team-global"})
    w.gcp.mutate(f"{COMPUTE}/global/targetHttpsProxies/{https}", {"urlMap": f"{link}/urlMaps/{redirect}"})
    w.gcp.mutate(f"{COMPUTE}/global/targetHttpProxies/{http}", {"urlMap": f"{link}/urlMaps/{um}"})
    w.gcp.mutate(f"{COMPUTE}/global/forwardingRules/{rule}", {"target": f"{link}/targetHttpProxies/{http}"})
    await reconcile_now(w, "hello")

    def repaired(_: dict[str, Any] | None) -> bool:
        state = w.gcp.state(prefix=f"{COMPUTE}/global/")
        return (
            state[f"{COMPUTE}/global/backendServices/{backend}"]["iap"]["enabled"] is True
            and state[f"{COMPUTE}/global/urlMaps/{um}"].get("defaultService", "").endswith(backend)
            and state[f"{COMPUTE}/global/targetHttpsProxies/{https}"]["urlMap"].endswith(f"/{um}")
            and state[f"{COMPUTE}/global/targetHttpProxies/{http}"]["urlMap"].endswith(f"/{redirect}")
            and state[f"{COMPUTE}/global/forwardingRules/{rule}"]["target"].endswith(f"/{https}")
        )

    await w.wait_for(repaired, within=30)

    # A new domain (a new certificate on the proxy), new members, then delete.
    await w.patch_spec("hello", {"loadBalancer": {"domains": ["hello.example.com", "www.example.com"]}})
    await w.wait_ready(within=30)
    await w.patch_spec("hello", {"access": {"members": ["user:bob@example.com"]}})
    await w.wait_for(lambda o: o is not None and o["status"]["grants"]["access"] == ["user:bob@example.com"])
    await w.delete("hello")
    await w.wait_for(lambda o: o is None, within=30)

    # Abandon: the operator lets go (and rewrites its labels).
    await w.create(protected("wiki", deletionPolicy="Abandon"))
    await w.wait_ready("wiki", within=30)
    await w.delete("wiki")
    await w.wait_for(lambda o: o is None, "wiki", within=30)

    # Direct mode, on a service of its own (IAP stays on the service when the resource goes).
    w.gcp.load_seed({"projects": [{"projectId": PROJECT, "projectNumber": NUMBER, "cloudRunServices": [
        {"name": "reports", "region": REGION}]}]})  # fmt: skip
    direct = protected(
        "reports",
        mode="Direct",
        cloudRun={"service": "reports", "region": REGION},
        iapSettings={"accessSettings": {"corsSettings": {"allowHttpOptions": True}}},
    )
    del direct["spec"]["loadBalancer"]
    await w.create(direct)
    await w.wait_ready("reports", within=30)
    await w.delete("reports")
    await w.wait_for(lambda o: o is None, "reports", within=30)

    # IAP on backend services the platform team built: global, then regional.
    await existing_backend(w, "team-regional", REGION)
    for name, region in (("team-global", None), ("team-regional", REGION)):
        ref = {"name": name, **({"region": region} if region else {})}
        attach = protected(
            name, cloudRun={"service": "billing", "region": REGION}, loadBalancer={"backendService": ref}
        )
        await w.create(attach)
        await resynced(w, name, await w.wait_ready(name, within=30))
        await w.delete(name)
        await w.wait_for(lambda o: o is None, name, within=30)


async def test_the_documented_permissions_are_the_calls_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with recorded_world(tmp_path, monkeypatch) as w:
        await tour(w)
        called = methods(w.gcp.requests())
    documented = documented_methods(DOCS.read_text())
    assert documented, f"no methods found under {SECTION!r}"
    assert called - documented == set(), "called but not documented"
    always = documented_methods(DOCS.read_text(), conditional=False)
    assert always - called == set(), "documented but never called in the recorded run"


def test_the_custom_roles_hold_exactly_the_documented_permissions() -> None:
    """Every permission of the table (and what it also needs, but for per-account actAs): the roles."""
    section = DOCS.read_text().split(SECTION, 1)[1].split("\n#", 1)[0]
    rows = [line.split("|")[3:5] for line in section.splitlines() if line.startswith("| ") and "`" in line]
    needed = {p for cells in rows for p in re.findall(r"`([a-z]+\.[a-zA-Z]+\.[a-zA-Z]+)`", "".join(cells))}
    needed.discard("iam.serviceAccounts.actAs")  # granted per runtime service account, not in a role
    roles = Path(__file__).resolve().parents[2] / "deploy" / "gcp"
    granted = {
        p
        for name in ("role-core.yaml", "role-loadbalancer.yaml")
        for p in yaml.safe_load((roles / name).read_text())["includedPermissions"]
    }
    assert granted == needed
