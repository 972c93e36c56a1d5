"""Check emulator responses against the response schemas of Google's discovery documents.

The discovery documents ship inside google-api-python-client. `DiscoveryValidator.check(method, path,
status, body)` maps the request to its discovery method (by HTTP method and path template), takes the
method's response schema and validates the body recursively and strictly:

- unknown properties are failures unless the schema has `additionalProperties`;
- int64/uint64 must be decimal strings, int32/uint32 JSON integers, `byte` base64, datetimes RFC 3339;
- enums must be sent by name; JSON null is never valid;
- `Any` payloads (`@type`) are validated against the schema of their type when it is known.

Error bodies (HTTP >= 400) are checked against Google's JSON error envelope instead, in the form each
API answers (recorded in ../shared/recorded-gcp): compute `{code, errors[], message}` without `status`,
the other APIs `{code, message, status[, details]}` without `errors`. A response to a request that asked
`$alt=json;enum-encoding=int` may send enums as numbers. Paths under `emulator/` (the control API) are
not Google APIs and are skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiohttp import web

from .discovery import enum_ints_requested, load_document
from .server import RESPONSE_OBSERVERS

# The discovery documents of the APIs the emulator serves (name.version as the file names).
DEFAULT_DOCUMENTS: tuple[str, ...] = (
    "compute.v1",
    "run.v2",
    "run.v1",
    "iap.v1",
    "serviceusage.v1beta1",
    "serviceusage.v1",
    "cloudresourcemanager.v3",
    "cloudresourcemanager.v1",
)

# `@type` of Any payloads -> (document, schema) to validate them with.
ANY_TYPES: dict[str, tuple[str, str]] = {
    "type.googleapis.com/google.cloud.run.v2.Service": ("run.v2", "GoogleCloudRunV2Service"),
    "type.googleapis.com/google.api.serviceusage.v1beta1.ServiceIdentity": (
        "serviceusage.v1beta1",
        "ServiceIdentity",
    ),
    "type.googleapis.com/google.api.serviceusage.v1beta1.GetServiceIdentityMetadata": (
        "serviceusage.v1beta1",
        "GetServiceIdentityMetadata",
    ),
    "type.googleapis.com/google.rpc.ErrorInfo": ("", "ErrorInfo"),
    "type.googleapis.com/google.rpc.BadRequest": ("", "BadRequest"),
    "type.googleapis.com/google.rpc.PreconditionFailure": ("", "PreconditionFailure"),
    "type.googleapis.com/google.rpc.RetryInfo": ("", "RetryInfo"),
    "type.googleapis.com/google.rpc.Help": ("", "Help"),
    "type.googleapis.com/google.rpc.LocalizedMessage": ("", "LocalizedMessage"),
    "type.googleapis.com/google.rpc.ResourceInfo": ("", "ResourceInfo"),
}

# Google's JSON error envelope and the google.rpc detail messages, in discovery-schema form
# (the discovery documents do not describe error bodies).
_STR = {"type": "string"}
_STR_MAP = {"type": "object", "additionalProperties": _STR}
_STR_LIST = {"type": "array", "items": _STR}
ERROR_SCHEMAS: dict[str, Any] = {
    "ErrorEnvelope": {"type": "object", "properties": {"error": {"$ref": "ErrorBody"}}},
    "ErrorBody": {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "format": "int32"},
            "message": _STR,
            "status": _STR,
            "errors": {"type": "array", "items": {"$ref": "LegacyError"}},
            "details": {"type": "array", "items": {"type": "object", "format": "google.protobuf.Any"}},
        },
    },
    "LegacyError": {
        "type": "object",
        "properties": {
            "message": _STR,
            "domain": _STR,
            "reason": _STR,
            "location": _STR,
            "locationType": _STR,
            "debugInfo": _STR,
            "extendedHelp": _STR,
            "sendReport": _STR,
        },
    },
    "ErrorInfo": {
        "type": "object",
        "properties": {"reason": _STR, "domain": _STR, "metadata": _STR_MAP},
    },
    "BadRequest": {
        "type": "object",
        "properties": {"fieldViolations": {"type": "array", "items": {"$ref": "FieldViolation"}}},
    },
    "FieldViolation": {
        "type": "object",
        "properties": {"field": _STR, "description": _STR, "reason": _STR},
    },
    "PreconditionFailure": {
        "type": "object",
        "properties": {"violations": {"type": "array", "items": {"$ref": "PreconditionViolation"}}},
    },
    "PreconditionViolation": {
        "type": "object",
        "properties": {"type": _STR, "subject": _STR, "description": _STR},
    },
    "RetryInfo": {
        "type": "object",
        "properties": {"retryDelay": {"type": "string", "format": "google-duration"}},
    },
    "Help": {
        "type": "object",
        "properties": {"links": {"type": "array", "items": {"$ref": "HelpLink"}}},
    },
    "HelpLink": {"type": "object", "properties": {"description": _STR, "url": _STR}},
    "LocalizedMessage": {"type": "object", "properties": {"locale": _STR, "message": _STR}},
    "ResourceInfo": {
        "type": "object",
        "properties": {"resourceType": _STR, "resourceName": _STR, "owner": _STR, "description": _STR},
    },
    "StringList": _STR_LIST,
}

_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_DURATION_RE = re.compile(r"-?\d+(\.\d{1,9})?s")
_INT_RE = re.compile(r"-?\d+")
_UINT_RE = re.compile(r"\d+")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


@dataclass(frozen=True)
class DiscoveryMethod:
    """One method of a discovery document, with the regex its request paths match."""

    document: str
    method_id: str
    http_method: str
    template: str
    pattern: re.Pattern[str]
    literal_chars: int  # specificity: more literal characters wins among several matches
    response_ref: str | None


@dataclass(frozen=True)
class Violation:
    """One way a response body breaks its schema."""

    method: str
    path: str
    where: str  # JSON location, e.g. `$.template.containers[0].ports`
    problem: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.where}: {self.problem}"


def _template_regex(template: str) -> tuple[re.Pattern[str], int]:
    """`v1/{+name}:iapSettings` -> regex; `{+x}` spans segments, `{x}` is one segment."""
    parts: list[str] = []
    literal = 0
    for piece in re.split(r"(\{\+?[^}]+\})", template):
        if piece.startswith("{+"):
            parts.append(r".+")
        elif piece.startswith("{"):
            parts.append(r"[^/]+")
        else:
            parts.append(re.escape(piece))
            literal += len(piece)
    return re.compile("".join(parts)), literal


def _walk_methods(resources_: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for resource in resources_.values():
        yield from resource.get("methods", {}).values()
        yield from _walk_methods(resource.get("resources", {}))


def _methods_of(name: str) -> list[DiscoveryMethod]:
    document = load_document(name)
    service_path = document.get("servicePath", "")
    found: list[DiscoveryMethod] = []
    for method in _walk_methods(document.get("resources", {})):
        templates = {method.get("flatPath"), method["path"]} - {None}
        for template in templates:
            pattern, literal = _template_regex(service_path + template)
            found.append(
                DiscoveryMethod(
                    document=name,
                    method_id=method["id"],
                    http_method=method["httpMethod"].upper(),
                    template=service_path + template,
                    pattern=pattern,
                    literal_chars=literal,
                    response_ref=(method.get("response") or {}).get("$ref"),
                )
            )
    return found


class DiscoveryValidator:
    """Maps (HTTP method, path) to a discovery method and validates response bodies against its schema."""

    def __init__(
        self, documents: Sequence[str] = DEFAULT_DOCUMENTS, skip_prefixes: Sequence[str] = ("emulator/",)
    ):
        self.documents = tuple(documents)
        self.skip_prefixes = tuple(skip_prefixes)
        self._methods = [m for name in self.documents for m in _methods_of(name)]

    def match(self, http_method: str, path: str) -> list[DiscoveryMethod]:
        """The most specific discovery methods matching the request (several when equally specific)."""
        path = path.split("?", 1)[0].lstrip("/")
        candidates = [
            m for m in self._methods if m.http_method == http_method.upper() and m.pattern.fullmatch(path)
        ]
        if not candidates:
            return []
        best = max(m.literal_chars for m in candidates)
        return [m for m in candidates if m.literal_chars == best]

    def check(
        self, http_method: str, path: str, status: int, body: Any, *, enum_ints: bool = False
    ) -> list[Violation]:
        """Every schema violation of one response (empty when it conforms or the path is not an API)."""
        clean = path.split("?", 1)[0].lstrip("/")
        if clean.startswith(self.skip_prefixes):
            return []

        def violation(where: str, problem: str) -> Violation:
            return Violation(http_method.upper(), clean, where, problem)

        if status >= 400:
            found = _SchemaWalker("").check(body, {"$ref": "ErrorEnvelope"})
            return [violation(w, p) for w, p in found + _envelope_problems(clean, body)]
        methods = self.match(http_method, clean)
        if not methods:
            return [violation("$", "no discovery method matches this request")]
        attempts: list[list[Violation]] = []
        for method in methods:
            if method.response_ref is None:
                problems = [] if body in ({}, None, "") else [("$", "method has no response body")]
            else:
                walker = _SchemaWalker(method.document, enum_ints=enum_ints)
                problems = walker.check(body, {"$ref": method.response_ref})
            if not problems:
                return []
            attempts.append([violation(w, f"{p} [{method.method_id}]") for w, p in problems])
        return attempts[0]

    def check_all(self, records: Iterable[tuple[str, str, int, Any, bool]]) -> list[Violation]:
        """`check` over (method, path, status, body, enum_ints) records."""
        return [
            v
            for method, path, status, body, ints in records
            for v in self.check(method, path, status, body, enum_ints=ints)
        ]


def _envelope_problems(path: str, body: Any) -> list[tuple[str, str]]:
    """The keys each API's error envelope has and has not (compute: no `status`; others: no `errors`)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return [("$", "an error answer needs an `error` object")]
    compute = path.startswith("compute/")
    required = {"code", "message", "errors"} if compute else {"code", "message", "status"}
    forbidden = {"status", "details"} if compute else {"errors"}
    problems = [("$.error", f"missing {key!r}") for key in sorted(required - set(error))]
    problems += [
        ("$.error", f"{key!r} is not part of this API's errors") for key in sorted(forbidden & set(error))
    ]
    return problems


class _SchemaWalker:
    """Recursive, strict validation of a JSON value against discovery schemas of one document."""

    def __init__(self, document: str, *, enum_ints: bool = False) -> None:
        self.enum_ints = enum_ints
        self.document = document
        self.schemas: Mapping[str, Any] = load_document(document)["schemas"] if document else ERROR_SCHEMAS
        self.problems: list[tuple[str, str]] = []

    def check(self, value: Any, schema: Mapping[str, Any]) -> list[tuple[str, str]]:
        self._value(value, schema, "$")
        return self.problems

    def _fail(self, where: str, problem: str) -> None:
        self.problems.append((where, problem))

    def _value(self, value: Any, schema: Mapping[str, Any], where: str) -> None:
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref not in self.schemas:
                self._fail(where, f"schema {ref} missing from {self.document or 'error schemas'}")
                return
            schema = self.schemas[ref]
        if value is None:
            self._fail(where, "null is never sent by Google APIs")
            return
        kind = schema.get("type")
        if kind == "any":
            return
        if kind == "object":
            self._object(value, schema, where)
        elif kind == "array":
            if not isinstance(value, list):
                self._fail(where, f"expected an array, got {type(value).__name__}")
                return
            for index, item in enumerate(value):
                self._value(item, schema.get("items", {"type": "any"}), f"{where}[{index}]")
        elif kind == "string" and self.enum_ints and "enum" in schema and type(value) is int:
            if not 0 <= value < 1000:
                self._fail(where, f"{value} is not an enum number")
        elif kind == "string":
            self._string(value, schema, where)
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                self._fail(where, f"expected an integer ({schema.get('format')}), got {value!r}")
            elif schema.get("format") == "uint32" and value < 0:
                self._fail(where, f"expected a non-negative integer, got {value}")
        elif kind == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                self._fail(where, f"expected a number, got {value!r}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self._fail(where, f"expected a boolean, got {value!r}")
        else:
            self._fail(where, f"schema type {kind!r} is not understood")

    def _object(self, value: Any, schema: Mapping[str, Any], where: str) -> None:
        if not isinstance(value, dict):
            self._fail(where, f"expected an object, got {type(value).__name__}")
            return
        if schema.get("format") == "google.protobuf.Any":
            self._any(value, {"type": "any"}, where)
            return
        properties: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                self._value(item, properties[key], f"{where}.{key}")
            elif extra is not None:
                if extra.get("type") == "any" and key == "@type":
                    continue
                self._value(item, extra, f"{where}.{key}")
            else:
                self._fail(where, f"unknown property {key!r}")
        if extra is not None and extra.get("type") == "any" and "@type" in str(extra.get("description")):
            self._any(value, extra, where)

    def _any(self, value: Mapping[str, Any], extra: Mapping[str, Any], where: str) -> None:
        """A google.protobuf.Any as JSON: `@type` plus the fields of that message."""
        type_url = value.get("@type")
        if not isinstance(type_url, str):
            self._fail(where, "an Any payload needs a string @type")
            return
        known = ANY_TYPES.get(type_url)
        if known is None:
            self._fail(where, f"@type {type_url!r} is not a type the validator knows")
            return
        document, name = known
        payload = {k: v for k, v in value.items() if k != "@type"}
        nested = _SchemaWalker(document, enum_ints=self.enum_ints)
        for inner_where, problem in nested.check(payload, {"$ref": name}):
            self._fail(where + inner_where[1:], problem)

    def _string(self, value: Any, schema: Mapping[str, Any], where: str) -> None:
        if not isinstance(value, str):
            self._fail(where, f"expected a string ({schema.get('format') or 'plain'}), got {value!r}")
            return
        fmt = schema.get("format")
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            self._fail(where, f"{value!r} is not one of the enum names")
        if fmt == "int64" and not _INT_RE.fullmatch(value):
            self._fail(where, f"{value!r} is not an int64 decimal string")
        elif fmt == "uint64" and not _UINT_RE.fullmatch(value):
            self._fail(where, f"{value!r} is not a uint64 decimal string")
        elif fmt == "byte" and not _is_base64(value):
            self._fail(where, f"{value!r} is not base64")
        elif fmt == "google-datetime" and not _DATETIME_RE.fullmatch(value):
            self._fail(where, f"{value!r} is not an RFC 3339 timestamp")
        elif fmt == "google-duration" and not _DURATION_RE.fullmatch(value):
            self._fail(where, f"{value!r} is not a duration like '3.5s'")


def _is_base64(value: str) -> bool:
    """Standard or URL-safe base64, padding optional (both are accepted by Google's parsers)."""
    if not _BASE64_RE.fullmatch(value):
        return False
    try:
        base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True)
class RecordedResponse:
    """One JSON response an emulator sent."""

    method: str
    path: str
    status: int
    body: Any
    enum_ints: bool = False  # the request asked `$alt=json;enum-encoding=int`


class ResponseRecorder:
    """Records the JSON body of every response any emulator app in this process sends, while active.

    ```python
    with ResponseRecorder() as recorder:
        ...  # drive the emulator
    assert not recorder.violations()
    ```
    It registers itself in `server.RESPONSE_OBSERVERS`; it is safe to use with the threaded emulator.
    """

    def __init__(self) -> None:
        self.records: list[RecordedResponse] = []

    def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        if not isinstance(response, web.Response) or response.content_type != "application/json":
            return
        raw = response.body
        if not isinstance(raw, bytes | bytearray):
            return
        ints = enum_ints_requested(request.query)
        body = json.loads(raw)
        self.records.append(RecordedResponse(request.method, request.path, response.status, body, ints))

    def __enter__(self) -> ResponseRecorder:
        RESPONSE_OBSERVERS.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self in RESPONSE_OBSERVERS:
            RESPONSE_OBSERVERS.remove(self)

    def violations(self, validator: DiscoveryValidator | None = None) -> list[Violation]:
        """Schema violations of every recorded response (see `DiscoveryValidator.check`)."""
        checker = validator or default_validator()
        return checker.check_all((r.method, r.path, r.status, r.body, r.enum_ints) for r in self.records)


@cache
def default_validator() -> DiscoveryValidator:
    """One shared validator over `DEFAULT_DOCUMENTS` (building one parses the documents)."""
    return DiscoveryValidator()
