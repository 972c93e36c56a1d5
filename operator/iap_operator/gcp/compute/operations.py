"""Waiting for compute operations, through the configured endpoint.

`ExtendedOperation.result()` polls Google's real host whatever the client's endpoint, so operations are
waited on with `GlobalOperationsClient.wait` / `RegionOperationsClient.wait` built with the same endpoint.
"""

from __future__ import annotations

import asyncio
from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.gcp.calls import Caller
from iap_operator.gcp.errors import ErrorFacts, classify

DONE = compute_v1.Operation.Status.DONE
WAIT_CALL_SECONDS = 150.0  # GCP answers a wait within 2 minutes; a little slack on top

# compute operation error codes -> the reasons its HTTP errors use.
_REASON_BY_CODE = {
    "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE": "resourceInUseByAnotherResource",
    "RESOURCE_ALREADY_EXISTS": "alreadyExists",
    "ALREADY_EXISTS": "alreadyExists",
    "CONDITION_NOT_MET": "conditionNotMet",
}
# ... and the google.rpc status they amount to, for operations without an HTTP code.
_STATUS_BY_CODE = {
    "RESOURCE_NOT_FOUND": "NOT_FOUND",
    "NOT_FOUND": "NOT_FOUND",
    "RESOURCE_ALREADY_EXISTS": "ALREADY_EXISTS",
    "ALREADY_EXISTS": "ALREADY_EXISTS",
    "CONDITION_NOT_MET": "ABORTED",
    "QUOTA_EXCEEDED": "RESOURCE_EXHAUSTED",
    "RATE_LIMIT_EXCEEDED": "RESOURCE_EXHAUSTED",
    "PERMISSION_DENIED": "PERMISSION_DENIED",
    "FORBIDDEN": "PERMISSION_DENIED",
}


class OperationWaiter:
    def __init__(
        self,
        caller: Caller,
        global_operations: compute_v1.GlobalOperationsClient,
        region_operations: compute_v1.RegionOperationsClient,
        operation_timeout: float,
    ) -> None:
        self._call = caller
        self._global = global_operations
        self._region = region_operations
        self._operation_timeout = operation_timeout

    async def wait(self, project: str, region: str | None, operation: compute_v1.Operation) -> None:
        """Return when `operation` is DONE; its error (if any) raised as `CloudError`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._operation_timeout
        pause = 0.1
        while operation.status != DONE:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CloudError(Fault.TRANSIENT, f"compute operation {operation.name} is still running")
            started = loop.time()
            request: dict[str, Any] = {"project": project, "operation": operation.name}
            if region:
                request["region"] = region
            client: Any = self._region if region else self._global
            method = "regionOperations.wait" if region else "globalOperations.wait"
            operation = await self._call.poll(
                "compute",
                method,
                client.wait,
                request=request,
                retry=None,
                timeout=min(remaining, WAIT_CALL_SECONDS),
            )
            if operation.status != DONE and loop.time() - started < 1.0:
                # An early answer (GCP does that under load): do not spin.
                await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
                pause = min(pause * 2, 5.0)
        raise_operation_error(operation)


def raise_operation_error(operation: compute_v1.Operation) -> None:
    errors = list(operation.error.errors) if operation.error else []
    if not errors and not operation.http_error_status_code:
        return
    first = errors[0] if errors else None
    code = first.code if first else ""
    message = "; ".join(e.message for e in errors if e.message) or operation.http_error_message
    facts = ErrorFacts(
        http_status=operation.http_error_status_code or None,
        status=_STATUS_BY_CODE.get(code, "INVALID_ARGUMENT" if code.startswith("INVALID") else ""),
        reason=_REASON_BY_CODE.get(code, code),
        message=message or f"compute operation {operation.name} failed",
    )
    raise CloudError(classify(facts), facts.message)
