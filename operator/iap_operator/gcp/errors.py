"""One translator from the Google client libraries' exceptions to the engine's `CloudError`.

Google answers errors as `{"error": {"code", "message", "status", "errors": [{"reason"}]}}`: compute names
the cause in `errors[].reason` (alreadyExists, conditionNotMet, resourceInUseByAnotherResource), the newer
APIs in `status` (ABORTED, FAILED_PRECONDITION). Both are read; the HTTP code decides the rest.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httplib2  # type: ignore[import-untyped]
import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from googleapiclient import errors as discovery_errors

from iap_operator.engine.errors import CloudError, Fault

IN_USE_REASON = "resourceInUseByAnotherResource"
# Reasons that mean "try again later" whatever the HTTP code (compute answers 400 resourceNotReady while
# another operation on the resource runs, and 403 for rate limits).
TRANSIENT_REASONS = frozenset(
    {"resourceNotReady", "rateLimitExceeded", "userRateLimitExceeded", "backendError"}
)

# google.rpc status names -> faults, for errors that carry no meaningful HTTP code (operation errors).
_FAULT_BY_STATUS = {
    "NOT_FOUND": Fault.NOT_FOUND,
    "ALREADY_EXISTS": Fault.ALREADY_EXISTS,
    "ABORTED": Fault.CONFLICT,
    "FAILED_PRECONDITION": Fault.FAILED_PRECONDITION,
    "PERMISSION_DENIED": Fault.PERMISSION_DENIED,
    "UNAUTHENTICATED": Fault.PERMISSION_DENIED,
    "INVALID_ARGUMENT": Fault.INVALID,
    "OUT_OF_RANGE": Fault.INVALID,
    "RESOURCE_EXHAUSTED": Fault.TRANSIENT,
    "UNAVAILABLE": Fault.TRANSIENT,
    "INTERNAL": Fault.TRANSIENT,
    "DEADLINE_EXCEEDED": Fault.TRANSIENT,
    "CANCELLED": Fault.TRANSIENT,
    "UNKNOWN": Fault.TRANSIENT,
}

# google.rpc.Code numbers (longrunning `error.code`) -> names.
_STATUS_BY_NUMBER = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    16: "UNAUTHENTICATED",
}

# No HTTP answer at all: the network, a timeout, the credentials' token endpoint.
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    auth_exceptions.TransportError,
    httplib2.HttpLib2Error,
    socket.timeout,
    TimeoutError,
    ConnectionError,
    api_exceptions.RetryError,
)


@dataclass(frozen=True)
class ErrorFacts:
    """What an error answer says, whichever library parsed it."""

    http_status: int | None
    status: str = ""  # google.rpc status name
    reason: str = ""  # compute's errors[0].reason
    message: str = ""
    retry_after: float | None = None


def classify(facts: ErrorFacts) -> Fault:
    code, status, reason = facts.http_status, facts.status, facts.reason
    if reason == IN_USE_REASON:
        return Fault.IN_USE
    if reason in TRANSIENT_REASONS:
        return Fault.TRANSIENT
    if code is None:
        return _FAULT_BY_STATUS.get(status, Fault.TRANSIENT)
    if code == 404:
        return Fault.NOT_FOUND
    if code == 409:
        return (
            Fault.ALREADY_EXISTS
            if "alreadyExists" in reason or status == "ALREADY_EXISTS"
            else Fault.CONFLICT
        )
    if code == 412:
        return Fault.CONFLICT
    if code in (401, 403):
        return Fault.PERMISSION_DENIED
    if code in (408, 429) or code >= 500:
        return Fault.TRANSIENT
    if status == "FAILED_PRECONDITION" or reason == "failedPrecondition":
        return Fault.FAILED_PRECONDITION
    return Fault.INVALID


def to_cloud_error(exc: BaseException) -> CloudError | None:
    """The `CloudError` for an exception of a Google client library; None for anything else (bugs)."""
    if isinstance(exc, CloudError):
        return exc
    facts = facts_of(exc)
    if facts is None:
        return None
    return CloudError(classify(facts), facts.message or str(exc), retry_after=facts.retry_after)


def facts_of(exc: BaseException) -> ErrorFacts | None:
    if isinstance(exc, api_exceptions.GoogleAPICallError) and not isinstance(exc, api_exceptions.RetryError):
        return _api_core_facts(exc)
    if isinstance(exc, discovery_errors.HttpError):
        return _discovery_facts(exc)
    if isinstance(exc, auth_exceptions.RefreshError | auth_exceptions.DefaultCredentialsError):
        return ErrorFacts(http_status=401, status="UNAUTHENTICATED", message=f"credentials: {exc}")
    if isinstance(exc, _TRANSPORT_ERRORS):
        return ErrorFacts(http_status=None, status="UNAVAILABLE", message=f"{type(exc).__name__}: {exc}")
    return None


def call_code(exc: BaseException | None) -> str:
    """The metrics code of a call: the HTTP status, or an error name when no answer came back."""
    if exc is None:
        return "200"
    facts = facts_of(exc)
    if facts is None:
        return "ERROR"
    if facts.http_status is not None:
        return str(facts.http_status)
    return facts.status or "UNAVAILABLE"


def status_name(code: int) -> str:
    """A google.rpc.Code number as its name (longrunning operation errors)."""
    return _STATUS_BY_NUMBER.get(code, "UNKNOWN")


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def _api_core_facts(exc: api_exceptions.GoogleAPICallError) -> ErrorFacts:
    response = exc.response
    error = _error_body(_response_json(response))
    reasons = [str(e.get("reason", "")) for e in exc.errors if isinstance(e, Mapping)]
    reason = next((r for r in reasons if r), "") or str(exc.reason or "")
    status = str(error.get("status") or "")
    if not status and exc.grpc_status_code is not None:
        status = getattr(exc.grpc_status_code, "name", "")
    headers = getattr(response, "headers", None) or {}
    http_status = exc.code if isinstance(exc.code, int) and response is not None else None
    if http_status is None and isinstance(exc.code, int) and not status:
        http_status = exc.code
    return ErrorFacts(
        http_status=http_status,
        status=status,
        reason=reason,
        message=str(error.get("message") or exc.message),
        retry_after=parse_retry_after(headers.get("Retry-After")),
    )


def _discovery_facts(exc: discovery_errors.HttpError) -> ErrorFacts:
    try:
        payload = json.loads(exc.content)
    except (TypeError, ValueError):
        payload = {}
    error = _error_body(payload)
    errors = error.get("errors") or []
    reason = str(errors[0].get("reason", "")) if errors and isinstance(errors[0], Mapping) else ""
    return ErrorFacts(
        http_status=int(exc.resp.status),
        status=str(error.get("status") or ""),
        reason=reason,
        message=str(error.get("message") or exc.reason or ""),
        retry_after=parse_retry_after(exc.resp.get("retry-after")),
    )


def _response_json(response: Any) -> Any:
    if response is None:
        return {}
    try:
        return response.json()
    except (AttributeError, TypeError, ValueError):
        return {}


def _error_body(payload: Any) -> Mapping[str, Any]:
    if isinstance(payload, list):
        payload = next((item for item in payload if isinstance(item, Mapping)), {})
    error = payload.get("error") if isinstance(payload, Mapping) else None
    return error if isinstance(error, Mapping) else {}
