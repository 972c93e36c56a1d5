"""The few Kubernetes reads the operator makes itself (kopf does the rest): Secrets and the CRD.

They use the very credentials kopf logged in with (`remember` is called from the login handler).
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf

CRD_NAME = "iapprotectedservices.iap-operator.dev"


class KubeReader:
    """Implements `engine.ports.SecretsPort`."""

    def __init__(self) -> None:
        self._info: kopf.ConnectionInfo | None = None

    def remember(self, info: kopf.ConnectionInfo | None) -> kopf.ConnectionInfo | None:
        self._info = info
        return info

    def _ssl(self, info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
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

    async def _get(self, path: str) -> dict[str, Any] | None:
        info = self._info
        if info is None:
            raise RuntimeError("not logged in to Kubernetes yet")
        headers = {"Accept": "application/json"}
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        auth = aiohttp.BasicAuth(info.username, info.password or "") if info.username else None
        async with (
            aiohttp.ClientSession(headers=headers, auth=auth) as session,
            session.get(info.server.rstrip("/") + path, ssl=self._ssl(info)) as resp,
        ):
            if resp.status == 404:
                return None
            resp.raise_for_status()
            return dict(await resp.json())

    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        secret = await self._get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    async def crd_terminating(self) -> bool:
        """True while the CRD itself is being deleted: then every object is abandoned, not torn down."""
        crd = await self._get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        return crd is None or bool((crd.get("metadata") or {}).get("deletionTimestamp"))
