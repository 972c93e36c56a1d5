"""`iap-operator sandbox`: the real operator on the embedded Kubernetes and GCP emulators, in one process.

Installs the CRD, applies the manifests given with -f, seeds GCP, runs the operator, shows the conditions
converge live, prints the final status and the GCP resources created; with --delete, deletes everything and
reports what remains.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from iap_operator.gcp.config import SERVICES
from iap_operator.resources import crd_path
from iap_operator.wiring.config import Config
from iap_operator.wiring.main import operate
from iap_sandbox.emulators.gcp.testing import EmulatorHandle, run_gcp_emulator
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

GROUP, VERSION, PLURAL = "iap-operator.dev", "v1alpha1", "iapprotectedservices"
DEFAULT_PROJECT = "demo-project"
DEFAULT_NUMBER = "123456789012"
_PATHS = {
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "Secret"): "/api/v1/namespaces/{ns}/secrets",
    (f"{GROUP}/{VERSION}", "IapProtectedService"): f"/apis/{GROUP}/{VERSION}/namespaces/{{ns}}/{PLURAL}",
}


def load_manifests(paths: Iterable[str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"}) if path.is_dir() else [path]
        )
        for file in files:
            docs += [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict)]
    return docs


def default_seed(manifests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A project per projectId the manifests name, with the Cloud Run services they protect."""
    projects: dict[str, dict[str, Any]] = {}
    for doc in manifests:
        if doc.get("kind") != "IapProtectedService":
            continue
        spec = doc.get("spec") or {}
        project_id = spec.get("projectId") or DEFAULT_PROJECT
        project = projects.setdefault(
            project_id,
            {
                "projectId": project_id,
                "projectNumber": str(int(DEFAULT_NUMBER) + len(projects)),
                "cloudRunServices": [],
            },
        )
        run = spec.get("cloudRun") or {}
        service = {"name": run.get("service"), "region": run.get("region")}
        if service not in project["cloudRunServices"]:
            project["cloudRunServices"].append(service)
    return {
        "projects": list(projects.values())
        or [{"projectId": DEFAULT_PROJECT, "projectNumber": DEFAULT_NUMBER}]
    }


class Kube:
    """A minimal client for the emulated API (plain REST)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def apply(self, doc: Mapping[str, Any]) -> str | None:
        """Create the object; return None or the API's error message."""
        key = (str(doc.get("apiVersion")), str(doc.get("kind")))
        if key not in _PATHS:
            return f"unsupported kind {key[1]} ({key[0]}) in the sandbox"
        ns = (doc.get("metadata") or {}).get("namespace") or "default"
        async with self.session.post(self.url + _PATHS[key].format(ns=ns), json=doc) as resp:
            if resp.status in {200, 201}:
                return None
            body = await resp.json(content_type=None)
            return str(body.get("message") if isinstance(body, dict) else body)

    async def ensure_namespace(self, ns: str) -> None:
        doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        async with self.session.post(self.url + "/api/v1/namespaces", json=doc):
            pass

    async def list_crs(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/apis/{GROUP}/{VERSION}/{PLURAL}") as resp:
            return list((await resp.json(content_type=None)).get("items") or [])

    async def delete(self, ns: str, name: str) -> None:
        async with self.session.delete(f"{self.url}/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}/{name}"):
            pass


def _conditions_line(obj: Mapping[str, Any]) -> str:
    meta, status = obj["metadata"], obj.get("status") or {}
    conds = {c["type"]: c for c in status.get("conditions") or []}
    ready = conds.get("Ready", {})
    steps = " ".join(
        f"{t}={'✓' if c['status'] == 'True' else '✗' if c['status'] == 'False' else '?'}"
        for t, c in conds.items()
        if t not in {"Ready", "Reconciling", "Stalled", "ConfigurationWarning"}
    )
    return (
        f"{meta['namespace']}/{meta['name']}: Ready={ready.get('status', '-')} "
        f"({ready.get('reason', '')}) {steps}  {ready.get('message', '')}"
    )


def _is_ready(obj: Mapping[str, Any]) -> bool:
    status = obj.get("status") or {}
    fresh = status.get("observedGeneration") == obj["metadata"].get("generation")
    return fresh and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
    )


def _ours(state: Mapping[str, Any]) -> dict[str, Any]:
    """Compute resources that carry the operator's ownership marks."""
    return {
        path: res
        for path, res in state.items()
        if path.startswith("compute/")
        and isinstance(res, dict)
        and ("iap-operator" in str(res.get("description", "")) or "managed-by" in (res.get("labels") or {}))
    }


@dataclass(frozen=True)
class Emulators:
    """Both emulators, serving on 127.0.0.1, and a kubeconfig for the Kubernetes one."""

    gcp: EmulatorHandle
    kube: KubeEmulatorHandle
    kubeconfig: Path

    def config(self, **settings: Any) -> Config:
        """The operator's configuration with every Google API pointed at the GCP emulator, no credentials."""
        return Config(endpoints=dict.fromkeys(SERVICES, self.gcp.url), anonymous=True, **settings)


@contextlib.asynccontextmanager
async def emulators(
    kubeconfig: Path,
    seed: Mapping[str, Any],
    *,
    latency: Any = None,
    settings: Mapping[str, Any] | None = None,
    rbac: bool = False,
) -> AsyncIterator[Emulators]:
    """The GCP emulator (seeded) and the Kubernetes emulator with the CRD installed, for the block.

    With `rbac`, the Kubernetes emulator enforces RBAC (HTTPS, bearer tokens); the kubeconfig is an admin's.
    """
    async with (
        run_gcp_emulator(seed=seed, latency=latency, settings=settings) as gcp,
        serve_kube_emulator(host="127.0.0.1", port=0, crds=[str(crd_path())], rbac=rbac) as kube,
    ):
        kube.write_kubeconfig(kubeconfig)
        yield Emulators(gcp, kube, kubeconfig)


@contextlib.asynccontextmanager
async def operator_thread(config: Config) -> AsyncIterator[None]:
    """The operator in a thread with its own event loop, as it would run in its own process.

    kopf owns its loop: on exit it waits for, then cancels, every task it did not see before it started,
    so it must not share a loop with the emulators.
    """
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(operate(config, stop_flag=stop, ready_flag=ready))
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="iap-operator", daemon=True)
    thread.start()
    await asyncio.to_thread(ready.wait, 30)
    if errors:
        raise RuntimeError("the operator failed to start") from errors[0]
    try:
        yield
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 30)


async def sandbox(args: argparse.Namespace) -> int:
    manifests = load_manifests(args.file)
    seed = yaml.safe_load(Path(args.seed).read_text()) if args.seed else default_seed(manifests)  # noqa: ASYNC240
    crs = [d for d in manifests if d.get("kind") == "IapProtectedService"]
    exit_code = 0
    report: dict[str, Any] = {}
    settings = {"compute.managedCertificateSeconds": args.certificate_seconds}
    kubeconfig = Path(tempfile.mkdtemp(prefix="iap-sandbox-")) / "kubeconfig"
    async with (
        emulators(kubeconfig, seed, latency=args.latency, settings=settings) as emu,
        aiohttp.ClientSession() as session,
    ):
        gcp, kube_server = emu.gcp, emu.kube
        os.environ["KUBECONFIG"] = str(kubeconfig)
        print(f"Kubernetes API emulator: {kube_server.url}\nGCP emulator:            {gcp.url}")
        kube = Kube(session, kube_server.url)
        await _existing_backend_services(session, gcp, crs)
        for ns in {(d.get("metadata") or {}).get("namespace") or "default" for d in manifests}:
            await kube.ensure_namespace(ns)
        applied: list[tuple[str, str]] = []
        for doc in sorted(manifests, key=lambda d: d.get("kind") != "Secret"):  # Secrets first
            meta = doc.get("metadata") or {}
            error = await kube.apply(doc)
            where = f"{doc.get('kind')} {meta.get('namespace') or 'default'}/{meta.get('name')}"
            if error:
                print(f"REJECTED {where}: {error}")
                exit_code = 1
            else:
                print(f"applied  {where}")
                if doc.get("kind") == "IapProtectedService":
                    applied.append((meta.get("namespace") or "default", str(meta.get("name"))))
        config = emu.config(
            default_project=DEFAULT_PROJECT,
            allowed_projects="*=*",
            poll_interval=args.poll_interval,
            missing_retry=args.poll_interval,
            backoff_base=0.2,
            backoff_max=5.0,
        )
        async with operator_thread(config):
            objects = await _watch(kube, applied, args.timeout)
            report["resources"] = objects
            print("\nFinal status:")
            for obj in objects:
                print(json.dumps({"name": obj["metadata"]["name"], "status": obj.get("status")}, indent=2))
            if not crs or not all(_is_ready(o) for o in objects) or len(objects) != len(applied):
                exit_code = 1
            state = gcp.state()
            report["gcp"] = state
            print("\nGCP resources created by the operator:")
            for path in sorted(_ours(state)):
                print(f"  {path}")
            if args.delete:
                for ns, name in applied:
                    await kube.delete(ns, name)
                await _wait_gone(kube, args.timeout)
                after = gcp.state()
                report["after_delete"] = after
                abandoned = {
                    o["metadata"]["uid"]
                    for o in objects
                    if (o.get("spec") or {}).get("deletionPolicy") == "Abandon"
                }
                kept = {p for p, r in _ours(after).items() if any(uid in json.dumps(r) for uid in abandoned)}
                left = {p: r for p, r in _ours(after).items() if p not in kept}
                print(
                    f"\nAfter delete: {len(kept)} resource(s) kept by deletionPolicy: Abandon, "
                    f"{len(left)} left behind"
                )
                for path in sorted(left):
                    print(f"  {path}")
                exit_code = exit_code or (1 if left else 0)
        report["requests"] = gcp.requests()
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, default=str))  # noqa: ASYNC240
            print(f"\nwrote {args.json}")
    print("\nresult:", "OK" if exit_code == 0 else "FAILED")
    return exit_code


async def _existing_backend_services(
    session: aiohttp.ClientSession, gcp: EmulatorHandle, crs: Sequence[Mapping[str, Any]]
) -> None:
    """Build the user-managed balancer that `loadBalancer.backendService` manifests attach to."""
    for doc in crs:
        spec = doc.get("spec") or {}
        ref = (spec.get("loadBalancer") or {}).get("backendService")
        if not ref or ref.get("region"):
            continue
        project, run = spec.get("projectId") or DEFAULT_PROJECT, spec["cloudRun"]
        base = f"{gcp.url}/compute/v1/projects/{project}"
        neg = {
            "name": f"{ref['name']}-neg",
            "networkEndpointType": "SERVERLESS",
            "cloudRun": {"service": run["service"]},
        }
        async with session.post(f"{base}/regions/{run['region']}/networkEndpointGroups", json=neg):
            pass
        group = f"projects/{project}/regions/{run['region']}/networkEndpointGroups/{neg['name']}"
        backend = {
            "name": ref["name"],
            "description": "the platform team's own balancer",
            "loadBalancingScheme": "EXTERNAL",
            "protocol": "HTTPS",
            "backends": [{"group": group}],
        }
        async with session.post(f"{base}/global/backendServices", json=backend):
            pass


async def _watch(kube: Kube, applied: list[tuple[str, str]], seconds: float) -> list[dict[str, Any]]:
    """Print each change of conditions until every applied resource is Ready (or the timeout)."""
    deadline = time.monotonic() + seconds
    last: dict[str, str] = {}
    wanted = {f"{ns}/{name}" for ns, name in applied}
    objects: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        objects = [
            o
            for o in await kube.list_crs()
            if f"{o['metadata']['namespace']}/{o['metadata']['name']}" in wanted
        ]
        for obj in objects:
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            line = _conditions_line(obj)
            if last.get(key) != line:
                print(f"[{time.strftime('%H:%M:%S')}] {line}")
                last[key] = line
        if len(objects) == len(wanted) and all(_is_ready(o) for o in objects):
            break
        await asyncio.sleep(0.2)
    return objects


async def _wait_gone(kube: Kube, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # a display loop over REST: polling is the point
        if not await kube.list_crs():
            return
        await asyncio.sleep(0.2)


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="iap-operator sandbox", description=__doc__)
    p.add_argument(
        "-f", "--file", action="append", default=None, help="manifest file or folder (default: examples/)"
    )
    p.add_argument(
        "--seed", help="GCP emulator seed (default: the projects and Cloud Run services the manifests name)"
    )
    p.add_argument(
        "--delete", action="store_true", help="then delete every applied resource and report leftovers"
    )
    p.add_argument("--json", help="write resources, GCP state, request log (and after_delete) to this file")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--latency", default="zero", help="GCP emulator latency profile: zero | realistic")
    p.add_argument(
        "--certificate-seconds", type=float, default=2.0, help="managed certificate provisioning time"
    )
    p.add_argument("--poll-interval", type=float, default=1.0)
    args = p.parse_args(list(argv))
    args.file = args.file or ["examples/"]
    return asyncio.run(sandbox(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
