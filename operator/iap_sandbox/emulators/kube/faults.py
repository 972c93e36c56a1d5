"""Fault rules for the emulated Kubernetes API, like the GCP emulator's: make matching requests fail or slow.

A rule matches when its `method` regex fullmatches the HTTP method and its `path` regex is found in the
URL path (query string excluded); `user` (a regex) limits it to one authenticated user in RBAC mode.
It fires `count` times (None: always), each time with `probability` (a seeded RNG, reproducible). Firing
waits `latency` seconds, then answers `status` with a Kubernetes `Status` (the reason a real server
uses for that code, `message`) and a `Retry-After` header when `retry_after` is set (429 carries it in
`details.retryAfterSeconds` too, as API Priority and Fairness does). `status: 0` only adds latency.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web

from . import errors

REASONS = {
    400: ("BadRequest", "bad request"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("NotFound", "not found"),
    409: ("Conflict", "conflict"),
    422: ("Invalid", "invalid"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
    504: ("Timeout", "The server was unable to return a response in the time allotted"),
}


@dataclass(frozen=True)
class FaultRule:
    id: str
    method: re.Pattern[str]
    path: re.Pattern[str]
    status: int
    message: str | None
    retry_after: float | None
    latency: float
    user: re.Pattern[str] | None
    probability: float = 1.0

    def matches(self, method: str, path: str, user: str | None) -> bool:
        if self.user is not None and (user is None or not self.user.fullmatch(user)):
            return False
        return self.method.fullmatch(method) is not None and self.path.search(path) is not None

    def error(self) -> errors.ApiError:
        reason, default = REASONS.get(self.status, ("InternalError", "injected fault"))
        details: dict[str, Any] = {}
        if self.status == 429 and self.retry_after is not None:
            details["retryAfterSeconds"] = max(1, round(self.retry_after))
        return errors.ApiError(self.status, reason, self.message or default, details)

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        seconds = self.retry_after
        return {"Retry-After": str(int(seconds)) if seconds == int(seconds) else str(seconds)}


@dataclass
class _Active:
    rule: FaultRule
    rng: random.Random
    remaining: int | None
    fired: int = 0


@dataclass
class Faults:
    _rules: list[_Active] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(
        self,
        *,
        method: str = ".*",
        path: str = ".*",
        status: int = 503,
        message: str | None = None,
        count: int | None = None,
        probability: float = 1.0,
        seed: int | None = None,
        retry_after: float | None = None,
        latency: float = 0.0,
        user: str | None = None,
    ) -> FaultRule:
        rule = FaultRule(
            id=f"fault-{next(self._ids)}",
            method=re.compile(method, re.IGNORECASE),
            path=re.compile(path),
            status=status,
            message=message,
            retry_after=retry_after,
            latency=latency,
            user=re.compile(user) if user is not None else None,
            probability=probability,
        )
        self._rules.append(_Active(rule, random.Random(seed), count))  # noqa: S311 - a test RNG
        return rule

    def fired(self, rule_id: str) -> int:
        return next((a.fired for a in self._rules if a.rule.id == rule_id), 0)

    def remove(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [a for a in self._rules if a.rule.id != rule_id]
        return len(self._rules) != before

    def clear(self) -> None:
        self._rules.clear()

    def pick(self, method: str, path: str, user: str | None = None) -> FaultRule | None:
        """The first matching rule that fires for this request (consuming one of its counts)."""
        for active in self._rules:
            if active.remaining == 0 or not active.rule.matches(method, path, user):
                continue
            if active.rule.probability < 1.0 and active.rng.random() >= active.rule.probability:
                continue
            if active.remaining is not None:
                active.remaining -= 1
            active.fired += 1
            return active.rule
        return None

    async def apply(self, method: str, path: str, user: str | None) -> aiohttp.web.StreamResponse | None:
        """The fault's response for this request, or None to serve it (after any latency)."""
        rule = self.pick(method, path, user)
        if rule is None:
            return None
        if rule.latency:
            await asyncio.sleep(rule.latency)
        if not rule.status:
            return None
        error = rule.error()
        return aiohttp.web.json_response(error.status(), status=error.code, headers=rule.headers())
