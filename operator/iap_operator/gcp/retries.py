"""Per-call retries: when another attempt is safe, how long to pause, and a process-wide retry budget.

A call is retried on a transient answer (429, 5xx, 408, a dropped connection, compute's rate-limit and
not-ready reasons) with exponential backoff and full jitter, never sooner than the server's Retry-After,
until its deadline. A read is always safe to repeat; a mutation only when repeating it cannot apply it
twice (`repeatable`). Retries are paid from a `RetryBudget` shared by every call of the process: when most
calls fail (an outage), retries dry up instead of multiplying the load, and the pass-level backoff of the
wiring takes over.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The verbs (last part of the metrics method name) that only read. Every other verb is a write: it is
# fenced by the leader election and retried only when `repeatable` says so.
READ_VERBS = frozenset({"get", "list", "aggregatedList", "wait", "getIamPolicy", "testIamPermissions"})

# Mutations GCP documents as idempotent whatever the request: `generateServiceIdentity` creates the
# service agent once and answers the same identity afterwards.
IDEMPOTENT_WRITES = frozenset({("serviceusage", "services.generateServiceIdentity")})


def is_read(method: str) -> bool:
    """`method` as the adapters name it for metrics: `backendServices.get`, `getIamPolicy`, ..."""
    return method.rsplit(".", 1)[-1] in READ_VERBS


def repeatable(service: str, method: str, kwargs: Mapping[str, Any]) -> bool:
    """True when sending this call a second time cannot apply it twice.

    - reads;
    - compute mutations carrying a `requestId` (compute ignores a repeated id for 60 minutes and answers
      the first operation), or a `labelFingerprint` (`setLabels`: a repeat after success is refused as
      stale);
    - IAM `setIamPolicy` and the Cloud Run update with an etag (a repeat after success is refused as
      stale, and the engine redoes its read-modify-write);
    - the writes GCP documents as idempotent.
    """
    if is_read(method) or (service, method) in IDEMPOTENT_WRITES:
        return True
    request = kwargs.get("request")
    if service == "compute":
        return bool(_field(request, "request_id")) or _has_label_fingerprint(request)
    if method == "setIamPolicy":
        return bool(_field(_field(request, "policy"), "etag"))
    if (service, method) == ("run", "services.patch"):
        return bool(_field(_field(request, "service"), "etag"))
    return False


def _field(message: Any, name: str) -> Any:
    if message is None:
        return None
    if isinstance(message, Mapping):
        return message.get(name)
    return getattr(message, name, None)


def _has_label_fingerprint(request: Any) -> bool:
    if not isinstance(request, Mapping):
        return False
    return any(bool(_field(value, "label_fingerprint")) for value in request.values())


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff of one call: the n-th pause is uniform(0, min(max_pause, initial * multiplier**n)) (full
    jitter), at least the server's Retry-After. No attempt starts after `deadline` seconds, and a pause
    that would end past it is not taken: the error goes to the pass, with its Retry-After."""

    deadline: float = 30.0
    initial: float = 0.25
    max_pause: float = 8.0
    multiplier: float = 2.0
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.deadline < 0 or self.initial <= 0 or self.max_pause <= 0 or self.multiplier < 1:
            raise ValueError("retry deadline >= 0, initial > 0, max_pause > 0 and multiplier >= 1 expected")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def pause(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """The pause before retry number `retry` (0 for the first retry)."""
        cap = min(self.max_pause, self.initial * self.multiplier ** min(retry, 64))
        return max(rng.uniform(0.0, cap), retry_after or 0.0)


NO_RETRIES = RetryPolicy(deadline=0.0, max_attempts=1)


class RetryBudget:
    """Retries paid for by successes: every successful call adds `ratio` tokens and a retry takes one;
    `min_per_second` tokens trickle in regardless; at most `burst` are kept.

    With `ratio` 3 retries are never refused while fewer than 3 attempts in 4 fail (at 60 % failures a
    call needs 1.5 retries on average); when nearly every call fails, retries are limited to the trickle.
    Time is the event loop's clock (`now` is passed in).
    """

    def __init__(self, ratio: float = 3.0, min_per_second: float = 1.0, burst: float = 50.0) -> None:
        if ratio < 0 or min_per_second < 0 or burst < 1:
            raise ValueError("retry budget: ratio >= 0, min_per_second >= 0 and burst >= 1 expected")
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.burst = burst
        self._tokens = burst
        self._stamp: float | None = None

    @property
    def tokens(self) -> float:
        return self._tokens

    def _refill(self, now: float) -> None:
        if self._stamp is not None and now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.min_per_second)
        self._stamp = now if self._stamp is None else max(self._stamp, now)

    def succeeded(self, now: float) -> None:
        self._refill(now)
        self._tokens = min(self.burst, self._tokens + self.ratio)

    def try_spend(self, now: float) -> bool:
        """Take one token for a retry; False (and nothing taken) when the budget is spent."""
        self._refill(now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
