"""Errors the adapters raise, in the engine's words (adapters translate their client's exceptions)."""

from __future__ import annotations

import enum


class Fault(enum.StrEnum):
    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    CONFLICT = "Conflict"  # stale fingerprint or etag: redo the read-modify-write
    IN_USE = "InUse"  # still referenced by another resource
    INVALID = "Invalid"  # GCP refused the request as invalid: permanent until the spec changes
    PERMISSION_DENIED = "PermissionDenied"
    FAILED_PRECONDITION = "FailedPrecondition"
    TRANSIENT = "Transient"  # 429, 5xx, timeouts


class CloudError(Exception):
    """A failed cloud call. `retry_after` carries the server's Retry-After hint in seconds."""

    def __init__(self, fault: Fault, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.fault = fault
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.fault in {Fault.TRANSIENT, Fault.CONFLICT, Fault.IN_USE}


class SpecError(Exception):
    """The resource asks for something the operator must not or cannot do; no cloud writes follow."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Waiting(Exception):
    """Not an error: something outside the operator must happen first (look again after `poll_after`)."""

    def __init__(self, reason: str, message: str, poll_after: float) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.poll_after = poll_after
