"""The few Kubernetes reads the operator makes itself (kopf does the rest): Secrets and the CRD."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any

import kubernetes

CRD_NAME = "iapprotectedservices.iap-operator.dev"


class KubeReader:
    """Implements `engine.ports.SecretsPort`; reads with the same credentials kopf uses (kubeconfig or
    in-cluster service account)."""

    def __init__(self) -> None:
        self._api: kubernetes.client.ApiClient | None = None

    def _client(self) -> kubernetes.client.ApiClient:
        if self._api is None:
            try:
                kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
            self._api = kubernetes.client.ApiClient()
        return self._api

    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        def get() -> Any:
            try:
                return kubernetes.client.CoreV1Api(self._client()).read_namespaced_secret(name, namespace)
            except kubernetes.client.ApiException as exc:
                if exc.status == 404:
                    return None
                raise

        secret = await asyncio.to_thread(get)
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    async def crd_terminating(self) -> bool:
        """True while the CRD itself is being deleted: then every object is abandoned, not torn down."""

        def get() -> bool:
            api = kubernetes.client.ApiextensionsV1Api(self._client())
            try:
                crd = api.read_custom_resource_definition(CRD_NAME)
            except kubernetes.client.ApiException as exc:
                return bool(exc.status == 404)
            return crd.metadata is not None and crd.metadata.deletion_timestamp is not None

        return await asyncio.to_thread(get)
