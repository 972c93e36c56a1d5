"""Fault injection: rules that make API requests fail or slow down, applied as aiohttp middleware.

A rule matches a request when its `method` and `path` regexes both match (`re.fullmatch` on the method,
`re.search` on the URL path with its leading `/`). A matching rule fires `count` times (unlimited when
None), each time with `probability` (drawn from the rule's own RNG, seeded by `seed` for reproducible
tests). Firing waits `latency` seconds, then answers `status` with `body` (a Google error body; a default
one is built from the status) and a `Retry-After` header when `retry_after` is set. A rule with
`status: 0` only adds latency and lets the request through. Rules never apply to `/emulator/` routes.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from .core import JSON, Clock, GoogleError, envelope_for

CONTROL_PREFIX = "/emulator/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultSpec(BaseModel):
    """A fault rule as posted to `POST /emulator/v1/faults` (or passed to `testing.add_fault`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: str = ".*"
    path: str = ".*"
    status: int = 503
    body: dict[str, Any] | None = None
    message: str | None = None
    count: int | None = Field(default=None, ge=0)
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    seed: int | None = None
    retry_after: float | None = Field(default=None, alias="retryAfter")
    latency: float = Field(default=0.0, ge=0.0)


@dataclass(frozen=True)
class FaultRule:
    id: str
    method: re.Pattern[str]
    path: re.Pattern[str]
    status: int
    body: JSON | None
    message: str | None
    count: int | None
    probability: float
    retry_after: float | None
    latency: float

    def matches(self, method: str, path: str) -> bool:
        return self.method.fullmatch(method) is not None and self.path.search(path) is not None

    def response(self, path: str) -> web.Response:
        headers = {}
        if self.retry_after is not None:
            seconds = self.retry_after
            headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        message = self.message or f"Injected fault {self.id}"
        body = self.body or GoogleError(self.status, message).to_json(envelope_for(path))
        return web.json_response(body, status=self.status, headers=headers)

    def describe(self, remaining: int | None, fired: int) -> JSON:
        return {
            "id": self.id,
            "method": self.method.pattern,
            "path": self.path.pattern,
            "status": self.status,
            "count": self.count,
            "remaining": remaining,
            "fired": fired,
            "probability": self.probability,
            "retryAfter": self.retry_after,
            "latency": self.latency,
        }


@dataclass
class _Active:
    rule: FaultRule
    rng: random.Random
    remaining: int | None
    fired: int = 0


@dataclass
class Faults:
    clock: Clock
    _rules: list[_Active] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, spec: FaultSpec) -> FaultRule:
        rule = FaultRule(
            id=f"fault-{next(self._ids)}",
            method=re.compile(spec.method, re.IGNORECASE),
            path=re.compile(spec.path),
            status=spec.status,
            body=spec.body,
            message=spec.message,
            count=spec.count,
            probability=spec.probability,
            retry_after=spec.retry_after,
            latency=spec.latency,
        )
        self._rules.append(_Active(rule, random.Random(spec.seed), spec.count))  # noqa: S311 - test RNG
        return rule

    def remove(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [a for a in self._rules if a.rule.id != rule_id]
        return len(self._rules) != before

    def clear(self) -> None:
        self._rules.clear()

    def describe(self) -> list[JSON]:
        return [a.rule.describe(a.remaining, a.fired) for a in self._rules]

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule that fires for this request (consuming one of its counts)."""
        for active in self._rules:
            if active.remaining == 0 or not active.rule.matches(method, path):
                continue
            if active.rule.probability < 1.0 and active.rng.random() >= active.rule.probability:
                continue
            if active.remaining is not None:
                active.remaining -= 1
            active.fired += 1
            return active.rule
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        rule = self.pick(request.method, request.path)
        if rule is None:
            return await handler(request)
        if rule.latency:
            await self.clock.sleep(rule.latency)
        if not rule.status:
            return await handler(request)
        return rule.response(request.path)
