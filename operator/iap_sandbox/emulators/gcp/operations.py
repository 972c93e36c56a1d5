"""Long-running operations with latency, a latency profile, and requestId de-duplication.

An `Operation` is a record whose `body` is the JSON its API returns for it (compute `Operation`,
`google.longrunning.Operation`, ...). The owner builds the body; `Operations.start` schedules the
`complete` callback after the delay: the callback applies the mutation's effect to the store and marks
the body done. A `GoogleError` raised by the callback is handed to `fail` (default: longrunning-style
`error` + `done: true`).

Methods GCP answers with an operation that is still running get their first answer before `complete`
runs, whatever the delay: with a zero delay the operation is done on the loop's next turn, so a client
sees `RUNNING` (or `done` absent) first and its wait/poll path runs in every test. Methods GCP answers
with an operation that is already done spend their delay before answering and complete inline
(`start(..., now=True)`, or `add_done`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .core import JSON, Clock, GoogleError, not_found

# (api, kind, verb) -> seconds before the operation is done, in the "realistic" profile. `kind` is the
# collection name (backendServices, services, ...); `verb` insert/patch/update/delete/create/... .
# "*" matches anything; the most specific entry wins.
REALISTIC_LATENCIES: dict[tuple[str, str, str], float] = {
    ("compute", "*", "*"): 5.0,
    ("compute", "backendServices", "insert"): 20.0,
    ("compute", "backendServices", "*"): 12.0,
    ("compute", "networkEndpointGroups", "*"): 6.0,
    ("compute", "urlMaps", "*"): 10.0,
    ("compute", "targetHttpsProxies", "*"): 8.0,
    ("compute", "targetHttpProxies", "*"): 8.0,
    ("compute", "globalForwardingRules", "*"): 15.0,
    ("compute", "globalAddresses", "*"): 4.0,
    # setLabels is answered DONE at once (recorded): it takes no operation time
    ("compute", "globalForwardingRules", "setLabels"): 0.0,
    ("compute", "globalAddresses", "setLabels"): 0.0,
    ("compute", "sslCertificates", "*"): 5.0,
    # managed certificates: PROVISIONING -> ACTIVE at the earliest (once every domain is visible), and
    # how long a domain may stay invisible before it shows FAILED_NOT_VISIBLE
    ("compute", "sslCertificates", "provision"): 900.0,
    ("compute", "sslCertificates", "notVisible"): 3600.0,
    ("run", "*", "*"): 15.0,
    ("run", "services", "delete"): 8.0,
    ("serviceusage", "*", "*"): 20.0,
    ("iap", "*", "*"): 1.0,
    ("resourcemanager", "*", "*"): 1.0,
}


@dataclass
class LatencyProfile:
    """Seconds per (api, kind, verb), times `scale`. The zero profile (the default) is an empty table."""

    table: dict[tuple[str, str, str], float] = field(default_factory=dict)
    scale: float = 1.0

    @classmethod
    def named(cls, name: str, scale: float = 1.0) -> LatencyProfile:
        if name == "zero":
            return cls({}, scale)
        if name == "realistic":
            return cls(dict(REALISTIC_LATENCIES), scale)
        raise ValueError(f"unknown latency profile {name!r} (zero|realistic)")

    def seconds(self, api: str, kind: str, verb: str) -> float:
        for key in ((api, kind, verb), (api, kind, "*"), (api, "*", verb), (api, "*", "*")):
            if key in self.table:
                return self.table[key] * self.scale
        return 0.0

    def update(self, entries: Mapping[tuple[str, str, str], float]) -> None:
        self.table.update(entries)


@dataclass(eq=False)
class Operation:
    path: str  # API path of the operation resource
    body: JSON  # the JSON the API returns for it; owners mutate it on completion
    done: asyncio.Event = field(default_factory=asyncio.Event)
    handle: asyncio.TimerHandle | None = None


Complete = Callable[[Operation], None]
Fail = Callable[[Operation, GoogleError], None]


def _fail_longrunning(op: Operation, err: GoogleError) -> None:
    """google.longrunning style: `done: true` with a google.rpc.Status `error`."""
    op.body["done"] = True
    op.body["error"] = {"code": grpc_code(err.status), "message": err.message}
    op.body.pop("response", None)


# google.rpc.Code numbers, for longrunning `error.code`.
_GRPC_CODES = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}


def grpc_code(status: str) -> int:
    return _GRPC_CODES.get(status, 2)


@dataclass
class _Remembered:
    operation: Operation
    expires: float


class Operations:
    """Every operation by API path, their timers, and remembered requestIds."""

    REQUEST_ID_TTL = 3600.0  # seconds a requestId is remembered (GCP: "at least 60 minutes")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._ops: dict[str, Operation] = {}
        self._request_ids: dict[tuple[str, str], _Remembered] = {}

    def start(
        self,
        path: str,
        body: JSON,
        delay: float,
        complete: Complete,
        fail: Fail = _fail_longrunning,
        *,
        now: bool = False,
    ) -> Operation:
        """Run `complete` after `delay` seconds (on the loop's next turn when 0), or inline with `now`."""
        op = Operation(path=path, body=body)
        self._ops[path] = op

        def run() -> None:
            op.handle = None
            try:
                complete(op)
            except GoogleError as err:
                fail(op, err)
            op.done.set()

        if now:
            run()
        else:
            op.handle = asyncio.get_running_loop().call_later(max(0.0, delay), run)
        return op

    def add_done(self, path: str, body: JSON) -> Operation:
        """Record an operation that was answered already done (GET and wait still find it)."""
        op = Operation(path=path, body=body)
        op.done.set()
        self._ops[path] = op
        return op

    def get(self, path: str) -> Operation | None:
        return self._ops.get(path)

    def require(self, path: str, message: str | None = None) -> Operation:
        op = self._ops.get(path)
        if op is None:
            raise not_found(message or f"The resource '{path}' was not found")
        return op

    async def wait(self, op: Operation, seconds: float) -> bool:
        """Wait up to `seconds` for the operation; True when it is done."""
        if op.done.is_set():
            return True
        try:
            await asyncio.wait_for(op.done.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def all(self) -> dict[str, Operation]:
        return dict(self._ops)

    def remove(self, path: str) -> None:
        op = self._ops.pop(path, None)
        if op and op.handle:
            op.handle.cancel()

    # requestId de-duplication: `scope` is e.g. the project; the same id returns the same operation.
    def remembered(self, scope: str, request_id: str) -> Operation | None:
        now = self._clock.monotonic()
        # Entries expire in the order they were remembered (one TTL): drop the expired from the front
        # only, so a lookup costs the expired entries, not all remembered ones.
        while self._request_ids:
            first = next(iter(self._request_ids))
            if self._request_ids[first].expires > now:
                break
            del self._request_ids[first]
        entry = self._request_ids.get((scope, request_id))
        return entry.operation if entry and entry.expires > now else None

    def remember(self, scope: str, request_id: str, op: Operation) -> None:
        expires = self._clock.monotonic() + self.REQUEST_ID_TTL
        self._request_ids.pop((scope, request_id), None)  # re-remembered: moves to the back
        self._request_ids[(scope, request_id)] = _Remembered(op, expires)

    def clear(self) -> None:
        for op in self._ops.values():
            if op.handle:
                op.handle.cancel()
        self._ops.clear()
        self._request_ids.clear()
