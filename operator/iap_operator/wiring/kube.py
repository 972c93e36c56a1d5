"""The few Kubernetes calls the operator makes itself (kopf does the rest): Secrets, status, Events, the CRD,
the Lease.

They use the very credentials kopf logs in with (`remember` is called from the login handler; the
leader election logs in the same way before kopf starts). Calls made with `retry=True` are retried on
429 and 5xx (API Priority and Fairness, an apiserver restarting) and on connection failures, with
exponential backoff that never undercuts the server's Retry-After. For the engine, a refused Secret
read becomes a `CloudError`: PermissionDenied names the verb, resource and namespace RBAC refused and
the RoleBinding that would allow it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

from iap_operator.engine.errors import CloudError, Fault

CRD_NAME = "iapprotectedservices.iap-operator.dev"
RETRYABLE = frozenset({429, 500, 502, 503, 504})
logger = logging.getLogger(__name__)

# Which ClusterRole of deploy/base/rbac.yaml holds a grant: what a PermissionDenied tells people to bind.
ROLE_OF = {
    ("", "secrets"): "iap-operator-secret-reader",
    ("", "events"): "iap-operator",
    ("iap-operator.dev", "iapprotectedservices"): "iap-operator",
    ("iap-operator.dev", "iapprotectedservices/status"): "iap-operator",
}
_USER = re.compile(r'User "([^"]+)" cannot')


class KubeError(Exception):
    """A refused or failed Kubernetes call: the HTTP status, the Status reason, the server's Retry-After."""

    def __init__(
        self, status: int, message: str, *, reason: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.reason = reason
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE or self.status == 0


@dataclass(frozen=True)
class Backoff:
    """How `retry=True` calls are retried: `attempts` in all, exponential from `base`, capped at `cap`."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.cap, self.base * 2**attempt) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
        return float(max(delay, retry_after or 0.0))


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


def _retry_after(resp: aiohttp.ClientResponse, data: Any) -> float | None:
    header = resp.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    details = data.get("details") if isinstance(data, dict) else None
    if isinstance(details, dict) and isinstance(details.get("retryAfterSeconds"), int | float):
        return float(details["retryAfterSeconds"])
    return None


@dataclass(frozen=True)
class Access:
    """One Kubernetes permission: a verb on a resource (or resource/subresource) in a namespace."""

    verb: str
    group: str
    resource: str
    namespace: str
    name: str = ""


def permission_message(exc: KubeError, access: Access) -> str:
    """What RBAC refused, to whom, and the RoleBinding (to a ClusterRole of deploy/) that would allow it."""
    match = _USER.search(exc.message)
    user = match.group(1) if match else "the operator's ServiceAccount"
    verb, resource, namespace = access.verb, access.resource, access.namespace
    named = f" {access.name!r}" if access.name else ""
    what = f'{verb} {resource}{named} (API group "{access.group}") in namespace {namespace!r}'
    role = ROLE_OF.get((access.group, resource), "iap-operator")
    account = user.removeprefix("system:serviceaccount:")
    subject = f"--serviceaccount={account}" if account != user else f"--user={user}"
    return (
        f"Kubernetes RBAC does not allow {user} to {what}: add a RoleBinding in {namespace} to the "
        f"ClusterRole {role} (kubectl create rolebinding {role} -n {namespace} --clusterrole={role} "
        f"{subject}), or see deploy/base/rbac.yaml"
    )


class KubeClient:
    """Plain JSON REST over kopf's `ConnectionInfo`; implements `engine.ports.SecretsPort`."""

    def __init__(
        self,
        info: kopf.ConnectionInfo | None = None,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._info = info
        self._context: ssl.SSLContext | bool | None = None  # built once per login, not per request
        self.backoff = backoff or Backoff()
        self._sleep = sleep

    def remember(self, info: kopf.ConnectionInfo | None) -> kopf.ConnectionInfo | None:
        self._info, self._context = info, None
        return info

    async def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, retry: bool = False
    ) -> dict[str, Any] | None:
        """The response object; None for 404; KubeError for any other failure (after retries if `retry`)."""
        attempts = self.backoff.attempts if retry else 1
        for attempt in range(attempts):
            try:
                return await self._once(method, path, body)
            except KubeError as exc:
                if not exc.retryable or attempt + 1 >= attempts:
                    raise
                delay = self.backoff.delay(attempt, exc.retry_after)
                logger.warning("%s %s: %s; retrying in %.1fs", method, path, exc, delay)
                await self._sleep(delay)
        raise AssertionError("unreachable")

    async def _once(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any] | None:
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
        try:
            async with (
                aiohttp.ClientSession(headers=headers, auth=auth) as session,
                session.request(method, url, data=payload, ssl=self._ssl_context(info)) as resp,
            ):
                if resp.status == 404:
                    return None
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = await resp.text()
                if resp.status >= 400:
                    message = data.get("message") if isinstance(data, dict) else str(data)
                    reason = str(data.get("reason") or "") if isinstance(data, dict) else ""
                    raise KubeError(
                        resp.status, str(message), reason=reason, retry_after=_retry_after(resp, data)
                    )
                return dict(data)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise KubeError(0, f"no answer from the Kubernetes API: {exc!r}") from exc

    def _ssl_context(self, info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
        if self._context is None:
            self._context = _ssl(info)
        return self._context

    async def patch_status(self, path: str, status: Mapping[str, Any]) -> None:
        """Merge-patch the status subresource of the object at `path` (an API path without /status)."""
        await self.request("PATCH", f"{path}/status", {"status": status}, retry=True)

    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        try:
            secret = await self.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", retry=True)
        except KubeError as exc:
            raise as_cloud_error(exc, Access("get", "", "secrets", namespace, name)) from exc
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    async def crd_terminating(self) -> bool:
        """True while the CRD itself is being deleted: then every object is abandoned, not torn down."""
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
        crd = await self.request("GET", path, retry=True)
        return crd is None or bool((crd.get("metadata") or {}).get("deletionTimestamp"))


def as_cloud_error(exc: KubeError, access: Access) -> CloudError:
    """A Kubernetes failure in the engine's words: RBAC refusals are PermissionDenied, the rest transient."""
    if exc.status in {401, 403}:
        return CloudError(Fault.PERMISSION_DENIED, permission_message(exc, access))
    message = f"Kubernetes API: {access.verb} {access.resource} failed: {exc}"
    return CloudError(Fault.TRANSIENT, message, retry_after=exc.retry_after)
