"""The few Kubernetes calls the operator makes itself (kopf does the rest): Secrets, the CRD, the Lease.

They use the very credentials kopf logs in with (`remember` is called from the login handler; the
leader election logs in the same way before kopf starts).
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf

CRD_NAME = "iapprotectedservices.iap-operator.dev"


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def login(settings: kopf.OperatorSettings | None = None) -> kopf.ConnectionInfo | None:
    """In-cluster service account first, then the kubeconfig (as kopf's own login handlers do)."""
    settings = settings or kopf.OperatorSettings()
    return kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(settings=settings)


def _ssl(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context(cafile=info.ca_path)
    if info.ca_data:
        context.load_verify_locations(cadata=base64.b64decode(info.ca_data).decode())
    if info.certificate_path and info.private_key_path:
        context.load_cert_chain(info.certificate_path, info.private_key_path)
    elif info.certificate_data and info.private_key_data:
        with tempfile.NamedTemporaryFile() as cert, tempfile.NamedTemporaryFile() as key:
            cert.write(base64.b64decode(info.certificate_data))
            key.write(base64.b64decode(info.private_key_data))
            cert.flush()
            key.flush()
            context.load_cert_chain(cert.name, key.name)
    return context


class KubeClient:
    """Plain JSON REST over kopf's `ConnectionInfo`; implements `engine.ports.SecretsPort`."""

    def __init__(self, info: kopf.ConnectionInfo | None = None) -> None:
        self._info = info
        self._context: ssl.SSLContext | bool | None = None  # built once per login, not per request

    def remember(self, info: kopf.ConnectionInfo | None) -> kopf.ConnectionInfo | None:
        self._info, self._context = info, None
        return info

    async def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The response object; None for 404; KubeError for any other failure."""
        info = self._info
        if info is None:
            raise RuntimeError("not logged in to Kubernetes yet")
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if method == "PATCH":
            headers["Content-Type"] = "application/merge-patch+json"
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        auth = aiohttp.BasicAuth(info.username, info.password or "") if info.username else None
        url = info.server.rstrip("/") + path
        payload = None if body is None else json.dumps(body)
        async with (
            aiohttp.ClientSession(headers=headers, auth=auth) as session,
            session.request(method, url, data=payload, ssl=self._ssl_context(info)) as resp,
        ):
            if resp.status == 404:
                return None
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                message = data.get("message") if isinstance(data, dict) else str(data)
                raise KubeError(resp.status, str(message))
            return dict(data)

    def _ssl_context(self, info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
        if self._context is None:
            self._context = _ssl(info)
        return self._context

    async def patch_status(self, path: str, status: Mapping[str, Any]) -> None:
        """Merge-patch the status subresource of the object at `path` (an API path without /status)."""
        await self.request("PATCH", f"{path}/status", {"status": status})

    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        secret = await self.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    async def crd_terminating(self) -> bool:
        """True while the CRD itself is being deleted: then every object is abandoned, not torn down."""
        crd = await self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        return crd is None or bool((crd.get("metadata") or {}).get("deletionTimestamp"))
