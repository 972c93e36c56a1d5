"""The exception translator on its own: Google's error bodies as the client libraries hand them over."""

from __future__ import annotations

import datetime
import email.utils
import json
from typing import Any

import httplib2  # type: ignore[import-untyped]
import pytest
import requests
from google.api_core import exceptions as api_exceptions
from googleapiclient.errors import HttpError

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.gcp.errors import ErrorFacts, call_code, classify, parse_retry_after, to_cloud_error


def google_body(code: int, status: str, reason: str = "", message: str = "boom") -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["errors"] = [{"message": message, "domain": "global", "reason": reason}]
    return {"error": error}


def from_http_response(response: requests.Response) -> api_exceptions.GoogleAPICallError:
    return api_exceptions.from_http_response(response)  # type: ignore[no-untyped-call,no-any-return]


def from_grpc_status(code: int, message: str) -> api_exceptions.GoogleAPICallError:
    return api_exceptions.from_grpc_status(code, message)  # type: ignore[no-untyped-call,no-any-return]


def fault_of(exc: BaseException) -> Fault | None:
    error = to_cloud_error(exc)
    return error.fault if error else None


def http_response(
    code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> requests.Response:
    response = requests.Response()
    response.status_code = code
    response._content = json.dumps(body).encode()
    response.headers.update(headers or {})
    response.request = requests.Request("GET", "http://127.0.0.1/compute/v1/projects/p").prepare()
    return response


@pytest.mark.parametrize(
    ("code", "status", "reason", "fault"),
    [
        (404, "NOT_FOUND", "notFound", Fault.NOT_FOUND),
        (409, "ALREADY_EXISTS", "alreadyExists", Fault.ALREADY_EXISTS),
        (409, "", "alreadyExists", Fault.ALREADY_EXISTS),
        (409, "ABORTED", "aborted", Fault.CONFLICT),
        (412, "FAILED_PRECONDITION", "conditionNotMet", Fault.CONFLICT),
        (400, "FAILED_PRECONDITION", "resourceInUseByAnotherResource", Fault.IN_USE),
        (400, "INVALID_ARGUMENT", "invalid", Fault.INVALID),
        (400, "FAILED_PRECONDITION", "failedPrecondition", Fault.FAILED_PRECONDITION),
        (403, "PERMISSION_DENIED", "forbidden", Fault.PERMISSION_DENIED),
        (401, "UNAUTHENTICATED", "required", Fault.PERMISSION_DENIED),
        (429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", Fault.TRANSIENT),
        (500, "INTERNAL", "backendError", Fault.TRANSIENT),
        (503, "UNAVAILABLE", "", Fault.TRANSIENT),
        (400, "INVALID_ARGUMENT", "resourceNotReady", Fault.TRANSIENT),
        (403, "PERMISSION_DENIED", "rateLimitExceeded", Fault.TRANSIENT),
    ],
)
def test_api_core_errors(code: int, status: str, reason: str, fault: Fault) -> None:
    exc = from_http_response(http_response(code, google_body(code, status, reason)))

    error = to_cloud_error(exc)

    assert error is not None
    assert error.fault is fault
    assert error.message == "boom"
    assert call_code(exc) == str(code)


def test_retry_after_from_the_response_headers() -> None:
    exc = from_http_response(
        http_response(429, google_body(429, "RESOURCE_EXHAUSTED"), {"Retry-After": "12"})
    )
    error = to_cloud_error(exc)
    assert error is not None
    assert (error.fault, error.retry_after) == (Fault.TRANSIENT, 12.0)


def test_retry_after_as_an_http_date() -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=90)
    seconds = parse_retry_after(email.utils.format_datetime(later, usegmt=True))
    assert seconds is not None
    assert 80 <= seconds <= 90
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0


def test_operation_errors_carry_only_a_status() -> None:
    aborted = from_grpc_status(10, "concurrent change")  # google.rpc ABORTED
    exists = from_grpc_status(6, "exists")
    assert fault_of(aborted) is Fault.CONFLICT
    assert fault_of(exists) is Fault.ALREADY_EXISTS


def test_discovery_client_errors() -> None:
    response = httplib2.Response({"status": "409", "retry-after": "4"})
    exc = HttpError(response, json.dumps(google_body(409, "ABORTED", "aborted")).encode())

    error = to_cloud_error(exc)

    assert error is not None
    assert (error.fault, error.retry_after, error.message) == (Fault.CONFLICT, 4.0, "boom")


def test_transport_failures_are_transient_and_bugs_pass_through() -> None:
    timeout = requests.exceptions.ReadTimeout("read timed out")
    assert fault_of(timeout) is Fault.TRANSIENT
    assert call_code(timeout) == "UNAVAILABLE"
    assert to_cloud_error(TypeError("a bug")) is None
    assert call_code(TypeError("a bug")) == "ERROR"
    own = CloudError(Fault.INVALID, "ours")
    assert to_cloud_error(own) is own


def test_classify_without_http_code_uses_the_status() -> None:
    assert classify(ErrorFacts(http_status=None, status="FAILED_PRECONDITION")) is Fault.FAILED_PRECONDITION
    assert classify(ErrorFacts(http_status=None, status="")) is Fault.TRANSIENT
