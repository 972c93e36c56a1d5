"""Serving the emulated Kubernetes API: `iap-operator kube-emulator` and `serve_kube_emulator()` for tests.

async with serve_kube_emulator(crds=[crd_path()]) as kube:
    kube.write_kubeconfig(tmp_path / "kubeconfig")   # for kubectl and the `kubernetes` client
    kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {...}})
    ...  # kopf: return kopf.ConnectionInfo(server=kube.url) from a @kopf.on.login() handler
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp.web

from . import errors, limits, manifests, patching, rbac, tls
from . import rbac as rbac_module
from .admitting import Admitter, default_admitter
from .cluster import Cluster
from .emulator import KubeEmulator
from .faults import Faults
from .kinds import NAMESPACE_KIND, KindInfo
from .manifests import write_kubeconfig

__all__ = ["KubeEmulatorHandle", "main", "serve_kube_emulator", "write_kubeconfig"]

_DEFAULT: Any = object()


class KubeEmulatorHandle:
    """A running emulated API: its URL, the kmock handler, and direct (in-process) object helpers.

    The helpers apply the same rules as HTTP requests (admission, resourceVersions, watch events).
    """

    def __init__(
        self, emulator: KubeEmulator, url: str, certificate: tls.ServingCertificate | None = None
    ) -> None:
        self.emulator = emulator
        self.url = url
        self.certificate = certificate  # RBAC mode serves HTTPS (client-go sends tokens over TLS only)
        # With RBAC enforced, a user in system:masters (the kubeconfig written by default uses it).
        self.admin_token: str | None = None
        if emulator.tokens is not None:
            self.admin_token = emulator.tokens.issue(
                rbac.User("emulator-admin", ("system:masters", "system:authenticated"))
            )

    @property
    def faults(self) -> Faults:
        """Fault rules, e.g. `kube.faults.add(method="PATCH", path=r"/status$", status=429, count=2)`."""
        return self.emulator.faults

    @property
    def decisions(self) -> list[rbac.Decision]:
        """Every resource request RBAC decided on (RBAC mode), with the grant that allowed it."""
        return self.emulator.decisions

    def issue_token(self, user: rbac.User) -> str:
        if self.emulator.tokens is None:
            raise RuntimeError("serve_kube_emulator(rbac=True) issues tokens; this one accepts every request")
        return self.emulator.tokens.issue(user)

    def service_account_token(self, namespace: str, name: str) -> str:
        """A bearer token for ServiceAccount NAMESPACE/NAME (user and groups as kube-apiserver has them)."""
        return self.issue_token(rbac.service_account_user(namespace, name))

    @property
    def cluster(self) -> Cluster:
        return self.emulator.cluster

    def kind(self, api_version: str, kind: str) -> KindInfo:
        info = self.cluster.registry.by_kind(api_version, kind)
        if info is None:
            raise errors.no_route(f"{api_version}, Kind={kind}")
        return info

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        info = self.kind(body["apiVersion"], body["kind"])
        return self.cluster.create(info, (body.get("metadata") or {}).get("namespace"), body)

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create, or merge-patch an existing object with `body` (a simplified `kubectl apply`)."""
        info = self.kind(body["apiVersion"], body["kind"])
        meta = body.get("metadata") or {}
        if self.get(body["apiVersion"], body["kind"], meta["name"], meta.get("namespace")) is None:
            return self.create(body)
        return self.cluster.patch(info, meta.get("namespace"), meta["name"], patching.MERGE_PATCH, body)

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return self.cluster.get(self.kind(api_version, kind), namespace, name)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        info = self.kind(api_version, kind)
        return self.cluster.patch(info, namespace, name, patching.MERGE_PATCH, patch, subresource=subresource)

    def patch_status(
        self, api_version: str, kind: str, name: str, status: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Merge `status` into the object's status (via /status when the kind has that subresource)."""
        info = self.kind(api_version, kind)
        subresource = "status" if info.has_status else None
        return self.patch(
            api_version, kind, name, {"status": status}, namespace=namespace, subresource=subresource
        )

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.cluster.delete(self.kind(api_version, kind), namespace, name)[0]

    def ensure_namespace(self, name: str) -> dict[str, Any]:
        existing = self.get("v1", "Namespace", name)
        return existing or self.cluster.create(NAMESPACE_KIND, None, {"metadata": {"name": name}})

    async def wait_for_watchers(self, count: int = 1) -> None:
        """Block until at least `count` watch streams are open (bound it with asyncio.timeout)."""
        await self.cluster.hub.wait_for_watchers(count)

    def write_kubeconfig(
        self, path: str | Path, namespace: str = "default", token: str | None = None
    ) -> Path:
        """A kubeconfig for this server; in RBAC mode with `token` (default: the admin's) and the CA."""
        ca = self.certificate.ca_pem if self.certificate else None
        return write_kubeconfig(path, self.url, namespace, token or self.admin_token, ca)

    def client_ssl(self) -> ssl.SSLContext | None:
        """For HTTP clients of this server in RBAC mode (it serves HTTPS with its own CA)."""
        return self.certificate.client_context() if self.certificate else None


@contextlib.asynccontextmanager
async def serve_kube_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    crds: Iterable[str | Path | Mapping[str, Any]] = (),
    *,
    admitter: Admitter | None = _DEFAULT,
    request_log_limit: int | None = 1000,
    watch_history: int = 1000,
    rbac: bool = False,
) -> AsyncIterator[KubeEmulatorHandle]:
    """Serve the emulated API over HTTP until the block exits; CRDs (files or dicts) are pre-installed.

    `watch_history` is how many events per resource a watch can resume from (older: 410 Gone).
    With `rbac`, requests need a bearer token (`handle.service_account_token(...)`), RBAC decides, and
    the API is served over HTTPS with a CA of its own (in the kubeconfigs it writes; `client_ssl()`).
    """
    cluster = Cluster(
        admitter=default_admitter() if admitter is _DEFAULT else admitter, watch_history=watch_history
    )
    tokens = rbac_module.Tokens() if rbac else None
    emulator = KubeEmulator(cluster=cluster, request_log_limit=request_log_limit, tokens=tokens)
    async with emulator:
        server = aiohttp.web.Server(emulator, handler_cancellation=True)

        def request(
            message: Any, payload: Any, protocol: Any, writer: Any, task: Any
        ) -> aiohttp.web.BaseRequest:
            # Bodies up to twice the API's limit are read, so the emulator answers 413 with a Status.
            return aiohttp.web.BaseRequest(
                message, payload, protocol, writer, task, asyncio.get_running_loop(),
                client_max_size=2 * limits.REQUEST_BODY_LIMIT,
            )  # fmt: skip

        server.request_factory = request
        runner = aiohttp.web.ServerRunner(server, shutdown_timeout=2.0)
        await runner.setup()
        try:
            certificate = tls.issue(host) if rbac else None
            context = certificate.server_context() if certificate else None
            site = aiohttp.web.TCPSite(runner, host, port, ssl_context=context)
            await site.start()
            bound_host, bound_port = runner.addresses[0][:2]
            scheme = "https" if certificate else "http"
            handle = KubeEmulatorHandle(emulator, f"{scheme}://{bound_host}:{bound_port}", certificate)
            for crd in crds:
                for doc in [crd] if isinstance(crd, Mapping) else manifests.load_manifests(crd):
                    handle.apply(doc)
            yield handle
        finally:
            cluster.hub.close()  # end the open watch streams, or the shutdown waits for them
            await runner.cleanup()


async def _serve_until_stopped(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve_kube_emulator(args.host, args.port, args.crd, rbac=args.rbac) as kube:
        if args.kubeconfig:
            kube.write_kubeconfig(args.kubeconfig)
        print(kube.url, flush=True)
        await stop.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="iap-operator kube-emulator", description="Serve the emulated Kubernetes API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed when ready)")
    parser.add_argument(
        "--crd", action="append", default=[], metavar="FILE", help="a CRD manifest to install"
    )
    parser.add_argument("--kubeconfig", metavar="FILE", help="also write a kubeconfig pointing at the server")
    parser.add_argument(
        "--rbac",
        action="store_true",
        help="enforce RBAC (HTTPS; the kubeconfig carries the CA and an admin token)",
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve_until_stopped(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
