"""Service agents through Service Usage v1beta1 `generateServiceIdentity` (a long-running operation)."""

from __future__ import annotations

from typing import Any

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.gcp.calls import Caller
from iap_operator.gcp.clients import ServiceUsage
from iap_operator.gcp.longrunning import operation_error, poll_until_done

JSON = dict[str, Any]


class ServiceIdentityAdapter:
    def __init__(self, caller: Caller, usage: ServiceUsage, operation_timeout: float) -> None:
        self._call = caller
        self._usage = usage
        self._operation_timeout = operation_timeout

    async def ensure_service_identity(self, project_number: str, service: str) -> str:
        """Create the service agent of `service` (idempotent at GCP) and return its email."""
        parent = f"projects/{project_number}/services/{service}"
        request = self._usage.api.services().generateServiceIdentity(parent=parent)
        operation: JSON = await self._call(
            "serviceusage", "services.generateServiceIdentity", request.execute, http=self._usage.http()
        )

        async def refresh(op: JSON) -> JSON:
            get = self._usage.api.operations().get(name=op["name"])
            fresh: JSON = await self._call.poll(
                "serviceusage", "operations.get", get.execute, http=self._usage.http()
            )
            return fresh

        done = await poll_until_done(
            operation,
            done=lambda op: bool(op.get("done")),
            refresh=refresh,
            name=str(operation.get("name", parent)),
            timeout=self._operation_timeout,
        )
        if "error" in done:
            error = done["error"]
            raise operation_error(
                int(error.get("code", 2)), str(error.get("message", "")), str(done.get("name"))
            )
        email = (done.get("response") or {}).get("email")
        if not email:
            raise CloudError(Fault.TRANSIENT, f"generateServiceIdentity for {parent} returned no email")
        return str(email)
