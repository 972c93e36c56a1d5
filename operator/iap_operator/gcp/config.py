"""How the adapters reach Google: endpoints, credentials, timeouts, retries, the write gate, metrics hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from iap_operator.gcp.retries import RetryPolicy

# The APIs the adapters call; `GcpConfig.endpoints` may override any of them (emulators, private access).
SERVICES = ("compute", "run", "iap", "serviceusage", "cloudresourcemanager")

OnCall = Callable[[str, str, str], None]
"""`on_call(service, method, code)` after every API call attempt; `code` is the HTTP status or an error
name. The same shape serves `on_retry` (the code of the attempt being retried) and `on_refused`: a
transient failure not retried (reason unsafe, attempts, deadline or budget) or a write not sent (fenced)."""

WriteGate = Callable[[], bool]
"""`may_write()`: whether a write may be sent now (the leader election's fence); reads never ask."""


def ignore_call(service: str, method: str, code: str) -> None:
    return None


def always_open() -> bool:
    return True


@dataclass(frozen=True)
class GcpConfig:
    """`endpoints`: service -> base URL (absent = Google's default). `anonymous`: no credentials
    (emulators); otherwise Application Default Credentials with the cloud-platform scope."""

    endpoints: Mapping[str, str] = field(default_factory=dict)
    anonymous: bool = False
    timeout: float = 60.0  # seconds per HTTP call
    max_workers: int = 16  # threads running the (blocking) client calls
    qps: float = 20.0  # Google API calls per second, process-wide (<= 0: unlimited)
    burst: int = 40
    observe_period: float = 0.0  # seconds a shared list answers `find`s (gcp/snapshots.py); <= 0: off
    operation_timeout: float = 900.0  # seconds a long-running operation may take before we give up
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # per call
    retry_budget_ratio: float = 3.0  # retries each successful call pays for (process-wide budget)
    may_write: WriteGate = always_open
    on_call: OnCall = ignore_call
    on_retry: OnCall = ignore_call
    on_refused: OnCall = ignore_call

    def __post_init__(self) -> None:
        unknown = set(self.endpoints) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown GCP endpoints {sorted(unknown)}; known: {', '.join(SERVICES)}")
        if self.timeout <= 0 or self.operation_timeout <= 0 or self.max_workers < 1:
            raise ValueError("timeout, operation_timeout and max_workers must be positive")
        object.__setattr__(self, "endpoints", MappingProxyType(dict(self.endpoints)))

    def endpoint(self, service: str) -> str | None:
        return self.endpoints.get(service)
