"""`iap-operator sandbox`: the real operator on the embedded Kubernetes and GCP emulators, in one process.

Installs the CRD, applies the manifests given with -f, seeds GCP with the projects and Cloud Run services
they name, runs the operator and shows a live table (NAME READY REASON ADDRESS URL AGE, and the latest
Event). It writes a kubeconfig and a gcloud configuration directory and prints the two `export` lines
that point kubectl and gcloud at it.

With --live it keeps running until Ctrl-C: apply, edit and delete resources with kubectl, break things
with gcloud and watch the operator react. Without it, it stops once every resource is Ready (or at
--timeout), prints what the operator built and, with --delete, deletes everything and reports what is
left; --json FILE writes the machine-readable report.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import yaml

from iap_operator.gcp.config import SERVICES
from iap_operator.resources import crd_path
from iap_operator.wiring import banner, logs
from iap_operator.wiring.config import Config
from iap_operator.wiring.main import operate
from iap_sandbox.access import exports, status_variables, write_env, write_gcloud_config
from iap_sandbox.board import Board, describe, is_ready
from iap_sandbox.emulators.gcp.testing import EmulatorHandle, run_gcp_emulator
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator
from iap_sandbox.live import Display, Follower, Seeder

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
    """A project per projectId the manifests name, with the Cloud Run services they protect, and the DNS
    records their domains need (the managed certificates turn ACTIVE once those resolve)."""
    projects: dict[str, dict[str, Any]] = {}
    dns: dict[str, str] = {}
    for doc in manifests:
        if doc.get("kind") != "IapProtectedService":
            continue
        spec = doc.get("spec") or {}
        dns.update(dict.fromkeys((spec.get("loadBalancer") or {}).get("domains") or [], "auto"))
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
        for region in run.get("regions") or [run.get("region")]:
            service = {"name": run.get("service"), "region": region}
            if service not in project["cloudRunServices"]:
                project["cloudRunServices"].append(service)
    return {
        "projects": list(projects.values())
        or [{"projectId": DEFAULT_PROJECT, "projectNumber": DEFAULT_NUMBER}],
        "dns": dns,
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


# --- the session ---------------------------------------------------------------------------------------


def default_directory(live: bool) -> Path:
    """--live: one well-known folder, so the exports stay valid across restarts; else a fresh one."""
    if live:
        return Path(tempfile.gettempdir()) / "iap-operator-sandbox"
    return Path(tempfile.mkdtemp(prefix="iap-sandbox-"))


@contextlib.contextmanager
def operator_log(path: Path, verbose: bool) -> Iterator[None]:
    """The operator's (and kopf's) log goes to `path`, secrets redacted, not to the terminal."""
    root = logging.getLogger()
    level = root.level
    with path.open("a", encoding="utf-8") as stream:
        handler = logs.configure_logging("text", logging.DEBUG if verbose else logging.INFO, stream)
        logging.captureWarnings(True)
        try:
            yield
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(level)


class Session:
    """One sandbox run: what it applied, what failed, and how it reports."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.display = Display(out)
        self.stop = asyncio.Event()  # Ctrl-C, SIGTERM
        self.failures: list[str] = []
        self.report: dict[str, Any] = {}
        self.directory = Path(args.dir) if args.dir else default_directory(args.live)

    async def apply(self, kube: Kube, manifests: Sequence[Mapping[str, Any]]) -> list[str]:
        """Create every object (Secrets first); the `namespace/name` of each IapProtectedService."""
        for ns in sorted({(d.get("metadata") or {}).get("namespace") or "default" for d in manifests}):
            await kube.ensure_namespace(ns)
        applied: list[str] = []
        for doc in sorted(manifests, key=lambda d: d.get("kind") != "Secret"):
            meta = doc.get("metadata") or {}
            where = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
            error = await kube.apply(doc)
            if error:
                self.display.note(f"REJECTED {doc.get('kind')} {where}: {error}")
                self.failures.append(f"{doc.get('kind')} {where} rejected")
                continue
            self.display.note(f"applied  {doc.get('kind')} {where}")
            if doc.get("kind") == "IapProtectedService":
                applied.append(where)
        return applied

    async def until_stopped(self, task: asyncio.Task[None]) -> None:
        """Until `task` ends or Ctrl-C; the task's failure is raised, not swallowed."""
        stopper = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({stopper, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def converge(self, follower: Follower, wanted: Sequence[str]) -> None:
        """The live table until every applied resource is Ready; a timeout says on what."""
        board = follower.board

        def done(b: Board) -> bool:
            return all(k in b.objects and is_ready(b.objects[k]) for k in wanted)

        timeout = self.args.timeout
        try:
            async with asyncio.timeout(timeout):
                await self.until_stopped(asyncio.create_task(follower.run(done)))
        except TimeoutError:
            late = [k for k in wanted if not (k in board.objects and is_ready(board.objects[k]))]
            self.display.note(
                f"\ntimed out after {timeout:g}s (--timeout) waiting for Ready: "
                f"{len(late)} of {len(wanted)} not Ready"
            )
            for key in late:
                self.display.note("  " + (describe(board.objects[key]) if key in board.objects else key))
            self.display.note(f"the operator's log: {self.directory / 'operator.log'}")
            self.failures.append(f"timed out after {timeout:g}s waiting for Ready")
        else:
            if not self.stop.is_set():
                self.display.table(board, full=True)

    async def delete_all(
        self, kube: Kube, gcp: EmulatorHandle, wanted: Sequence[str], objects: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Delete every applied resource; report what is left in GCP (Abandon keeps its resources)."""
        for key in wanted:
            ns, name = key.split("/", 1)
            await kube.delete(ns, name)
        try:
            async with asyncio.timeout(self.args.timeout):
                await _wait_gone(kube)
        except TimeoutError:
            left = ", ".join(
                f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in await kube.list_crs()
            )
            self.display.note(
                f"timed out after {self.args.timeout:g}s (--timeout) waiting for deletion of {left}"
            )
            self.failures.append("timed out waiting for deletion")
        after = gcp.state()
        abandoned = {  # marks name the owner, managed or released: docs/ownership.md
            f"for {(o.get('status') or {}).get('owner')}{end}"
            for o in objects
            if (o.get("spec") or {}).get("deletionPolicy") == "Abandon"
            for end in (" (", ",")
        }
        kept = {p for p, r in _ours(after).items() if any(o in json.dumps(r) for o in abandoned)}
        left_behind = sorted(p for p in _ours(after) if p not in kept)
        self.display.note(
            f"\nAfter delete: {len(kept)} resource(s) kept by deletionPolicy: Abandon, "
            f"{len(left_behind)} left behind"
        )
        if left_behind:
            self.display.note("\n".join(f"  {path}" for path in left_behind))
            self.failures.append(f"{len(left_behind)} GCP resource(s) left behind")
        return after

    def operator_config(self, emu: Emulators) -> Config:
        args = self.args
        return emu.config(
            default_project=DEFAULT_PROJECT,
            allowed_projects="*=*",
            poll_interval=args.poll_interval,
            missing_retry=args.poll_interval,
            backoff_base=0.2,
            backoff_max=5.0,
            resync_override=args.resync,
            resync_tick=min(5.0, args.resync),
        )

    def finish(self, any_resource: bool) -> int:
        """Write --json, say how it ended; 0 only when everything applied became Ready (and was cleaned)."""
        out = self.display.out
        if self.args.json:
            Path(self.args.json).write_text(json.dumps(self.report, indent=2, default=str))
            print(f"\nwrote {self.args.json}", file=out)
        if self.args.live:
            print("stopped", file=out)
            return 0
        if not any_resource:
            self.failures.append("no IapProtectedService was applied")
        if self.stop.is_set():
            self.failures.append("interrupted")
        print("\nresult:", f"FAILED ({'; '.join(self.failures)})" if self.failures else "OK", file=out)
        return 1 if self.failures else 0

    def handoff(self, lines: Sequence[str]) -> None:
        """What to type in another terminal."""
        self.display.note(
            "\nIn another terminal:\n  "
            + "\n  ".join(lines)
            + f"\n(or: source {self.directory / 'env.sh'}, which also points `iap-operator status` here)"
            "\nthen use kubectl and gcloud as on a real cluster: the README's walkthroughs start there."
            "\nCtrl-C stops everything.\n"
        )


async def sandbox(args: argparse.Namespace, out: TextIO | None = None) -> int:
    run = Session(args, out or sys.stdout)
    manifests = load_manifests(args.file)
    seed = yaml.safe_load(Path(args.seed).read_text()) if args.seed else default_seed(manifests)  # noqa: ASYNC240
    crs = [d for d in manifests if d.get("kind") == "IapProtectedService"]
    directory = run.directory
    directory.mkdir(parents=True, exist_ok=True)
    kubeconfig, log_path = directory / "kubeconfig", directory / "operator.log"
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, run.stop.set)
    settings = {"compute.managedCertificateSeconds": args.certificate_seconds}
    try:
        with operator_log(log_path, args.verbose):
            async with (
                emulators(kubeconfig, seed, latency=args.latency, settings=settings) as emu,
                aiohttp.ClientSession() as session,
            ):
                gcp = emu.gcp
                os.environ["KUBECONFIG"] = str(kubeconfig)
                project = next((p["projectId"] for p in seed.get("projects") or []), DEFAULT_PROJECT)
                lines = exports(kubeconfig, write_gcloud_config(directory / "gcloud", gcp.url, project))
                write_env(directory / "env.sh", lines, status_variables(gcp.url))
                run.display.note(
                    f"Kubernetes API emulator  {emu.kube.url}\nGCP emulator             {gcp.url}\n"
                    f"operator log             {log_path}\n"
                )
                kube = Kube(session, emu.kube.url)
                await _existing_backend_services(session, gcp, crs)
                wanted = await run.apply(kube, manifests)
                config = run.operator_config(emu)
                banner.announce(config)  # into the operator log, as `iap-operator run` starts
                follower = Follower(
                    session, emu.kube.url, run.display, Seeder(gcp, seed, run.display, enabled=not args.seed)
                )
                async with operator_thread(config):
                    if args.live:
                        run.handoff(lines)
                        await run.until_stopped(asyncio.create_task(follower.run()))
                        run.display.note("\nstopping: the operator, then both emulators")
                    else:
                        await run.converge(follower, wanted)
                        objects = [follower.board.objects[k] for k in wanted if k in follower.board.objects]
                        run.report["resources"] = objects
                        run.report["gcp"] = gcp.state()
                        run.display.note(_built(run.report["gcp"]))
                        if args.delete and not run.stop.is_set():
                            run.report["after_delete"] = await run.delete_all(kube, gcp, wanted, objects)
                run.report["requests"] = gcp.requests()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return run.finish(bool(crs))


def _built(state: Mapping[str, Any]) -> str:
    """One line: how many resources of each kind the operator created (the paths are in --json)."""
    kinds = collections.Counter(path.split("/")[-2] for path in _ours(state))
    each = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return f"\nGCP resources the operator created: {sum(kinds.values())}" + (f" ({each})" if each else "")


async def _wait_gone(kube: Kube) -> None:
    while await kube.list_crs():  # noqa: ASYNC110 - a REST display loop; polling is the point
        await asyncio.sleep(0.2)


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="iap-operator sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "-f", "--file", action="append", default=None, metavar="PATH",
        help="manifest file or folder to apply; repeatable (default: examples/)",
    )  # fmt: skip
    p.add_argument(
        "--live", action="store_true",
        help="keep running until Ctrl-C, a playground for kubectl and gcloud (default: stop once Ready)",
    )  # fmt: skip
    p.add_argument(
        "--dir", metavar="DIR",
        help="where the kubeconfig, the gcloud configuration, env.sh and the operator log go (default: "
        f"{default_directory(True)} with --live, else a new temporary folder)",
    )  # fmt: skip
    p.add_argument(
        "--seed", metavar="FILE",
        help="GCP emulator seed file (default: the projects and Cloud Run services the resources name, "
        "including resources applied later)",
    )  # fmt: skip
    p.add_argument(
        "--delete", action="store_true",
        help="once Ready, delete every applied resource and report what is left in GCP (default: off)",
    )  # fmt: skip
    p.add_argument(
        "--json", metavar="FILE",
        help="write the machine-readable report {resources, gcp, requests, after_delete} here "
        "(default: none)",
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=float, default=120.0, metavar="SECONDS",
        help="without --live: how long to wait for every resource to be Ready, and for deletion "
        "(default: 120)",
    )  # fmt: skip
    p.add_argument(
        "--latency", default="zero", choices=("zero", "realistic"),
        help="GCP emulator latency profile (default: zero)",
    )  # fmt: skip
    p.add_argument(
        "--certificate-seconds", type=float, default=2.0, metavar="SECONDS",
        help="how long a Google-managed certificate takes to become ACTIVE (default: 2)",
    )  # fmt: skip
    p.add_argument(
        "--poll-interval", type=float, default=1.0, metavar="SECONDS",
        help="the operator's --poll-interval and --missing-retry (default: 1)",
    )  # fmt: skip
    p.add_argument(
        "--resync", type=float, default=30.0, metavar="SECONDS",
        help="drift repair period for every resource; a cluster uses each spec.resyncPeriod (default: 30)",
    )  # fmt: skip
    p.add_argument("--verbose", action="store_true", help="debug logging in the operator log (default: off)")
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    args.file = args.file or ["examples/"]
    return asyncio.run(sandbox(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
