"""Core primitives of the GCP emulator: errors, clock, ids, the resource store, projects.

The interface service modules build on is described in the package docstring (`__init__.py`).
This module imports nothing else from the emulator, so every other module can import it.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import copy
import datetime
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON = dict[str, Any]

# ---------------------------------------------------------------------------------------------- errors

# HTTP status -> canonical google.rpc status name (used when a raiser gives only a code).
_STATUS_BY_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# google.rpc status name -> the legacy `errors[].reason` Google puts next to it.
_REASON_BY_STATUS: dict[str, str] = {
    "INVALID_ARGUMENT": "badRequest",
    "FAILED_PRECONDITION": "failedPrecondition",
    "OUT_OF_RANGE": "badRequest",
    "UNAUTHENTICATED": "required",
    "PERMISSION_DENIED": "forbidden",
    "NOT_FOUND": "notFound",
    "ALREADY_EXISTS": "alreadyExists",
    "ABORTED": "aborted",
    "RESOURCE_EXHAUSTED": "rateLimitExceeded",
    "CANCELLED": "cancelled",
    "INTERNAL": "backendError",
    "UNIMPLEMENTED": "notImplemented",
    "UNAVAILABLE": "backendError",
    "DEADLINE_EXCEEDED": "deadlineExceeded",
}


# Error envelopes (recorded: compute__*, run__*, resourcemanager__* in ../shared/recorded-gcp).
COMPUTE = "compute"
GOOGLE = "google"


def envelope_for(path: str) -> str:
    """Which error envelope the API serving `path` answers with."""
    return COMPUTE if path.startswith("/compute/") else GOOGLE


class GoogleError(Exception):
    """An API error answered in Google's JSON error format.

    `reason` is the compute-style `errors[].reason` (notFound, alreadyExists, conditionNotMet, invalid,
    resourceInUseByAnotherResource, ...); `status` the google.rpc code name (NOT_FOUND, ABORTED, ...).
    Either may be omitted: the missing one is derived from the HTTP code.
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: str | None = None,
        reason: str | None = None,
        details: list[JSON] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS_BY_CODE.get(code, "UNKNOWN")
        self.reason = reason or _REASON_BY_STATUS.get(self.status, "unknown")
        self.details = details or []
        self.headers = dict(headers or {})

    def to_json(self, envelope: str = GOOGLE) -> JSON:
        """The body in the envelope of the API answering: compute's (`errors[]` with `reason`, no
        `status`) or the google.rpc one of the newer APIs (`status` and `details`, no `errors`)."""
        if envelope == COMPUTE:
            errors = [{"domain": "global", "message": self.message, "reason": self.reason}]
            return {"error": {"code": self.code, "errors": errors, "message": self.message}}
        error: JSON = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def to_response(self, envelope: str = GOOGLE) -> web.Response:
        return web.json_response(self.to_json(envelope), status=self.code, headers=self.headers)


def not_found(message: str) -> GoogleError:
    return GoogleError(404, message, reason="notFound")


def compute_not_found(path: str) -> GoogleError:
    """Compute's 404, naming the resource as `projects/p/global/backendServices/x`."""
    return not_found(f"The resource '{path}' was not found")


def already_exists(message: str) -> GoogleError:
    return GoogleError(409, message, status="ALREADY_EXISTS", reason="alreadyExists")


def invalid(message: str, *, reason: str = "invalid") -> GoogleError:
    return GoogleError(400, message, status="INVALID_ARGUMENT", reason=reason)


def condition_not_met(message: str) -> GoogleError:
    """Compute's answer to a stale fingerprint (HTTP 412)."""
    return GoogleError(412, message, status="FAILED_PRECONDITION", reason="conditionNotMet")


def failed_precondition(message: str) -> GoogleError:
    return GoogleError(400, message, status="FAILED_PRECONDITION", reason="failedPrecondition")


def aborted(message: str) -> GoogleError:
    """Concurrent modification (stale etag) in APIs that use google.rpc codes."""
    return GoogleError(409, message, status="ABORTED", reason="aborted")


def permission_denied(message: str) -> GoogleError:
    return GoogleError(403, message, status="PERMISSION_DENIED", reason="forbidden")


def resource_in_use(message: str) -> GoogleError:
    return GoogleError(400, message, status="FAILED_PRECONDITION", reason="resourceInUseByAnotherResource")


# ----------------------------------------------------------------------------------------------- clock


class Clock:
    """The one time source. `monotonic()` is the running loop's time (so `looptime` fakes it)."""

    def monotonic(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def wall(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    def rfc3339(self) -> str:
        """Compute's timestamp style: `2024-05-01T10:11:12.345-07:00` (with an explicit offset)."""
        return self.wall().isoformat(timespec="milliseconds")

    def rfc3339_z(self) -> str:
        """The `Z`-suffixed style of the newer APIs (Cloud Run v2, longrunning metadata)."""
        return self.wall().isoformat(timespec="microseconds").replace("+00:00", "Z")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


# ------------------------------------------------------------------------------------------------- ids


def new_numeric_id() -> str:
    """A uint64 as a decimal string, as compute's `id` fields."""
    return str(secrets.randbits(63) | (1 << 62))


def new_fingerprint() -> str:
    """Base64 of 8 random bytes: compute fingerprints and IAM etags."""
    return base64.b64encode(secrets.token_bytes(8)).decode()


def new_hex_id(length: int = 16) -> str:
    return secrets.token_hex(length // 2)


NAME_RE = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def is_rfc1035_name(name: str) -> bool:
    return len(name) <= 63 and NAME_RE.fullmatch(name) is not None


def enum_name(value: Any, names: Mapping[int, str]) -> Any:
    """Decode an enum sent as a number (`enum-encoding=int`) into its name; names pass through."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return names.get(value, str(value))
    if isinstance(value, str) and value.isdigit():
        return names.get(int(value), value)
    return value


# ----------------------------------------------------------------------------------------------- store


def field_values(resource: Any, field: str) -> list[Any]:
    """Every value at a dotted path (lists fan out): `labels.owner`, `backends.group`, `iap.enabled`."""
    current: list[Any] = [resource]
    for part in field.split("."):
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, list):
                item_list: list[Any] = item
                nxt.extend(sub.get(part) for sub in item_list if isinstance(sub, dict) and part in sub)
            elif isinstance(item, dict) and part in item:
                nxt.append(item[part])
        current = nxt
    flat: list[Any] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def field_text(value: Any) -> str:
    """A value as list filters compare it (`true`/`false` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# A derived index: the keys a stored item is found under (e.g. every resource it references).
IndexKeys = Callable[[str, JSON], Iterable[str]]


@dataclass
class StoreStats:
    """What the store handed out: `copies` deep copies made for callers, `touched` stored items read
    (copied or not). Tests use them to show a request's cost does not grow with the store."""

    copies: int = 0
    touched: int = 0


class Store:
    """Every emulated resource as JSON, keyed by its API path (URL path without the leading `/`).

    Values are copied on the way in and on `get` (so callers never share dicts with the store); the
    `peek`/`scan`/`lookup`/`find` family hands out the stored dicts themselves, read-only by contract,
    so a list copies only the page it answers. IAM policies live under `"<resource path>:iamPolicy"`.

    Scaling (docs/gcp-emulator.md): each collection path keeps its direct members by name and a sorted
    name list, field indexes (`lookup`) are built on first use per (collection, field) and maintained on
    every write, and derived indexes (`add_index`/`find`) map keys such as referenced paths to items, so
    no request walks the whole store.
    """

    def __init__(self) -> None:
        self._items: dict[str, JSON] = {}
        self._children: dict[str, dict[str, JSON]] = {}  # collection path -> name -> item
        self._names: dict[str, list[str]] = {}  # collection path -> sorted names
        self._fields: dict[tuple[str, str], dict[str, set[str]]] = {}  # (collection, field) -> text -> names
        self._derived: dict[str, tuple[IndexKeys, dict[str, set[str]]]] = {}  # name -> (keys, key -> paths)
        self.stats = StoreStats()

    # -- single items

    def get(self, path: str) -> JSON | None:
        item = self._items.get(path)
        if item is None:
            return None
        self.stats.touched += 1
        self.stats.copies += 1
        return copy.deepcopy(item)

    def peek(self, path: str) -> JSON | None:
        """The stored item itself (do not mutate it), or None."""
        item = self._items.get(path)
        if item is not None:
            self.stats.touched += 1
        return item

    def __contains__(self, path: object) -> bool:
        return path in self._items

    def put(self, path: str, resource: JSON) -> None:
        stored = copy.deepcopy(resource)
        old = self._items.get(path)
        if old is not None:
            self._unindex(path, old)
        self._items[path] = stored
        self._index(path, stored, new=old is None)

    def delete(self, path: str) -> JSON | None:
        old = self._items.pop(path, None)
        if old is not None:
            self._unindex(path, old)
            parent, name = _split(path)
            if parent is not None:
                members = self._children.get(parent)
                if members is not None:
                    members.pop(name, None)
                    names = self._names[parent]
                    at = bisect.bisect_left(names, name)
                    if at < len(names) and names[at] == name:
                        del names[at]
        return old

    # -- collections

    def names(self, collection: str) -> list[str]:
        """Names of a collection's direct members, sorted (a view: do not mutate)."""
        return self._names.get(collection.rstrip("/"), [])

    def scan(
        self, collection: str, after: str | None = None, start_at: str | None = None
    ) -> Iterator[tuple[str, JSON]]:
        """(name, stored item) of a collection's direct members in name order: after the name `after`,
        else from the first name >= `start_at`, else from the first."""
        coll = collection.rstrip("/")
        names = self._names.get(coll, [])
        members = self._children.get(coll, {})
        if after is not None:
            start = bisect.bisect_right(names, after)
        else:
            start = bisect.bisect_left(names, start_at) if start_at is not None else 0
        while start < len(names):  # by position: a caller may write to the store between items
            name = names[start]
            start += 1
            item = members.get(name)
            if item is not None:
                self.stats.touched += 1
                yield name, item

    def children(self, collection: str) -> list[tuple[str, JSON]]:
        """Direct members of a collection path, copied, sorted by path (`.../backendServices` -> each)."""
        coll = collection.rstrip("/")
        found = [(f"{coll}/{name}", item) for name, item in self.scan(coll)]
        self.stats.copies += len(found)
        return [(path, copy.deepcopy(item)) for path, item in found]

    def lookup(self, collection: str, field: str, value: str) -> list[str]:
        """Sorted names of a collection's members with `value` among the texts at `field` (dotted).

        The (collection, field) index is built on first use (one pass) and kept current by every write.
        """
        coll = collection.rstrip("/")
        index = self._fields.get((coll, field))
        if index is None:
            index = self._fields[(coll, field)] = {}
            for name, item in self._children.get(coll, {}).items():
                for text in {field_text(v) for v in field_values(item, field)}:
                    index.setdefault(text, set()).add(name)
        return sorted(index.get(value, ()))

    def add_index(self, name: str, keys: IndexKeys) -> None:
        """A derived index over every stored item: `find(name, key)` -> paths whose `keys` include key."""
        found: dict[str, set[str]] = {}
        for path, item in self._items.items():
            for key in keys(path, item):
                found.setdefault(key, set()).add(path)
        self._derived[name] = (keys, found)

    def has_index(self, name: str) -> bool:
        return name in self._derived

    def find(self, name: str, key: str) -> list[str]:
        """Sorted paths stored under `key` in the derived index `name`."""
        return sorted(self._derived[name][1].get(key, ()))

    # -- bulk (control API, seeds, resets)

    def items(self, prefix: str = "") -> Iterator[tuple[str, JSON]]:
        """Every item under `prefix`, copied. Walks the whole store: not for request handlers."""
        for path, item in list(self._items.items()):
            if path.startswith(prefix):
                self.stats.touched += 1
                self.stats.copies += 1
                yield path, copy.deepcopy(item)

    def snapshot(self, prefix: str = "") -> dict[str, JSON]:
        chosen = {path: item for path, item in self._items.items() if path.startswith(prefix)}
        return copy.deepcopy(dict(sorted(chosen.items())))

    def clear(self) -> None:
        self._items.clear()
        self._children.clear()
        self._names.clear()
        for index in self._fields.values():
            index.clear()
        for _, found in self._derived.values():
            found.clear()

    # -- index upkeep

    def _index(self, path: str, item: JSON, *, new: bool) -> None:
        parent, name = _split(path)
        if parent is not None:
            members = self._children.setdefault(parent, {})
            members[name] = item
            if new:
                bisect.insort(self._names.setdefault(parent, []), name)
            for (coll, field), index in self._fields.items():
                if coll == parent:
                    for text in {field_text(v) for v in field_values(item, field)}:
                        index.setdefault(text, set()).add(name)
        for keys, found in self._derived.values():
            for key in keys(path, item):
                found.setdefault(key, set()).add(path)

    def _unindex(self, path: str, item: JSON) -> None:
        parent, name = _split(path)
        if parent is not None:
            for (coll, field), index in self._fields.items():
                if coll == parent:
                    for text in {field_text(v) for v in field_values(item, field)}:
                        holders = index.get(text)
                        if holders is not None:
                            holders.discard(name)
                            if not holders:
                                del index[text]
        for keys, found in self._derived.values():
            for key in keys(path, item):
                holders = found.get(key)
                if holders is not None:
                    holders.discard(path)
                    if not holders:
                        del found[key]


def _split(path: str) -> tuple[str | None, str]:
    """(collection path, name) of a collection member; (None, path) for `:iamPolicy`-style keys."""
    parent, _, name = path.rpartition("/")
    if not parent or ":" in name:
        return None, path
    return parent, name


# -------------------------------------------------------------------------------------------- projects


@dataclass(frozen=True)
class Project:
    project_id: str
    number: str
    # The permissions testIamPermissions grants; None means every permission asked for.
    permissions: frozenset[str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Projects:
    """Known projects, resolvable by id or by number."""

    def __init__(self) -> None:
        self._by_id: dict[str, Project] = {}

    def add(self, project: Project) -> None:
        self._by_id[project.project_id] = project

    def get(self, id_or_number: str) -> Project | None:
        if id_or_number in self._by_id:
            return self._by_id[id_or_number]
        return next((p for p in self._by_id.values() if p.number == id_or_number), None)

    def require(self, id_or_number: str) -> Project:
        """The project, or a 404 `The resource 'projects/x' was not found` (compute's wording)."""
        project = self.get(id_or_number)
        if project is None:
            raise compute_not_found(f"projects/{id_or_number}")
        return project

    def all(self) -> list[Project]:
        return list(self._by_id.values())

    def clear(self) -> None:
        self._by_id.clear()


# ---------------------------------------------------------------------------------------- HTTP helpers


async def read_json(request: web.Request) -> JSON:
    """The request body as a JSON object ({} when empty); 400 when it is not a JSON object."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}", reason="parseError") from exc
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.", reason="parseError")
    return body


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise invalid(f"Invalid value for {name}: {raw!r}") from exc


def deep_merge(target: JSON, patch: Mapping[str, Any]) -> JSON:
    """Merge `patch` into a copy of `target`: dicts merge recursively, a None value deletes the key."""
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# ------------------------------------------------------------------------ cross-service (Run <-> IAP)

COMPUTE_PREFIX = "compute/v1/"
# The derived store index (`Store.add_index`) in which the compute module files every resource under
# `ref:projects/...` for each resource it references.
COMPUTE_REFERENCES = "compute-references"
SELF_LINK_BASE = "https://www.googleapis.com/compute/v1/"


def cloud_run_service_path(project_id: str, region: str, service: str) -> str:
    return f"v2/projects/{project_id}/locations/{region}/services/{service}"


def cloud_run_iap_enabled(store: Store, project_id: str, region: str, service: str) -> bool:
    """Whether the stored Cloud Run v2 service has `iapEnabled: true`."""
    resource = store.get(cloud_run_service_path(project_id, region, service))
    return bool(resource and resource.get("iapEnabled"))


def resource_path_of_link(link: str) -> str:
    """A compute URL or partial path -> the `projects/...` path inside it ('' when there is none)."""
    index = link.find("projects/")
    return link[index:] if index >= 0 else ""


def backend_services_with_iap_for_run_service(
    store: Store, project_id: str, region: str, service: str
) -> list[str]:
    """API paths of IAP-enabled backend services whose serverless NEGs point at the Cloud Run service.

    GCP refuses Cloud Run `iapEnabled` while such a backend service exists, and the reverse.
    """
    store_negs = f"{COMPUTE_PREFIX}projects/{project_id}/regions/{region}/networkEndpointGroups"
    negs = {
        f"{store_negs[len(COMPUTE_PREFIX) :]}/{name}"
        for name in store.lookup(store_negs, "cloudRun.service", service)
    }
    if not negs:
        return []
    if store.has_index(COMPUTE_REFERENCES):  # the compute module's index of what points at what
        candidates = sorted({p for neg in negs for p in store.find(COMPUTE_REFERENCES, f"ref:{neg}")})
    else:
        candidates = [p for p, _ in store.items(f"{COMPUTE_PREFIX}projects/{project_id}/")]
    found: list[str] = []
    for path in candidates:
        if not path.startswith(f"{COMPUTE_PREFIX}projects/{project_id}/"):
            continue
        if "/backendServices/" not in path or ":" in path.rsplit("/", 1)[-1]:
            continue
        backend = store.peek(path) or {}
        if not (backend.get("iap") or {}).get("enabled"):
            continue
        groups = {resource_path_of_link(b.get("group", "")) for b in backend.get("backends", [])}
        if groups & negs:
            found.append(path)
    return sorted(found)
