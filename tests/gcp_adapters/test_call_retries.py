"""Per-call retries (backoff, Retry-After, deadline, budget, what is safe to repeat) and the write fence.

The unit tests run `Caller` on an executor that runs each call inline and on loop time (looptime); the
functions they call raise the client library's own exceptions, as its REST transport does.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import compute_v1, run_v2
from google.iam.v1 import iam_policy_pb2, policy_pb2  # type: ignore[import-untyped]

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.ports import Cloud
from iap_operator.gcp.calls import Caller, WriteFenced
from iap_operator.gcp.retries import RetryBudget, RetryPolicy, repeatable
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import MARKS, PROJECT, chain, requests_to


class Inline(Executor):
    """Runs each submitted call at once, on the loop's thread: no threads for looptime to wait on."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class Response:
    """What api_core reads off a `requests.Response` when it builds an exception."""

    def __init__(self, status: int, retry_after: str | None = None) -> None:
        self.status_code = status
        self.headers = {"Retry-After": retry_after} if retry_after else {}
        self.request = None

    def json(self) -> dict[str, Any]:
        return {"error": {"code": self.status_code, "message": "injected"}}


def failure(status: int, retry_after: str | None = None) -> api_exceptions.GoogleAPICallError:
    return api_exceptions.from_http_status(status, "injected", response=Response(status, retry_after))


class Script:
    """A callable that raises the given errors in turn, then returns "ok"; records the loop time of calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.times: list[float] = []

    def __call__(self, **_: Any) -> str:
        self.times.append(asyncio.get_event_loop().time())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Hooks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.retries: list[tuple[str, str, str]] = []
        self.refused: list[tuple[str, str, str]] = []


def caller(
    hooks: Hooks,
    policy: RetryPolicy | None = None,
    budget: RetryBudget | None = None,
    may_write: Callable[[], bool] = lambda: True,
    executor: Executor | None = None,
) -> Caller:
    return Caller(
        executor or Inline(),
        lambda *c: hooks.calls.append(c),
        policy=policy or RetryPolicy(),
        budget=budget or RetryBudget(),
        may_write=may_write,
        on_retry=lambda *c: hooks.retries.append(c),
        on_refused=lambda *c: hooks.refused.append(c),
        rng=random.Random(7),
    )


@pytest.mark.looptime
async def test_a_transient_read_is_retried_until_it_succeeds() -> None:
    hooks = Hooks()
    fn = Script(failure(503), api_exceptions.ServiceUnavailable("dropped"), failure(500))

    assert await caller(hooks)("compute", "backendServices.get", fn) == "ok"

    assert [c[2] for c in hooks.calls] == ["503", "UNAVAILABLE", "500", "200"]
    assert hooks.retries == [
        ("compute", "backendServices.get", "503"),
        ("compute", "backendServices.get", "UNAVAILABLE"),
        ("compute", "backendServices.get", "500"),
    ]


@pytest.mark.looptime
async def test_pauses_use_full_jitter_within_a_doubling_cap_and_honour_retry_after() -> None:
    hooks = Hooks()
    policy = RetryPolicy(deadline=600, initial=1.0, max_pause=4.0, max_attempts=10)
    fn = Script(failure(503), failure(503), failure(503), failure(503), failure(429, "20"), failure(503))

    await caller(hooks, policy)("compute", "urlMaps.get", fn)

    pauses = [b - a for a, b in zip(fn.times, fn.times[1:], strict=False)]
    caps = [1.0, 2.0, 4.0, 4.0]
    assert all(0 <= p <= cap for p, cap in zip(pauses, caps, strict=False)), pauses
    assert len(set(pauses[:4])) == 4  # jittered, not a fixed ladder
    assert pauses[4] >= 20.0  # Retry-After: never sooner than the server asked
    assert pauses[5] <= 4.0


@pytest.mark.looptime
async def test_no_attempt_starts_after_the_deadline() -> None:
    hooks = Hooks()
    policy = RetryPolicy(deadline=10, initial=2.0, max_pause=2.0, max_attempts=100)
    fn = Script(*[failure(503) for _ in range(100)])
    start = asyncio.get_running_loop().time()

    with pytest.raises(CloudError) as caught:
        await caller(hooks, policy)("compute", "urlMaps.get", fn)

    assert caught.value.fault is Fault.TRANSIENT
    assert fn.times[-1] - start <= 10
    assert hooks.refused == [("compute", "urlMaps.get", "deadline")]


@pytest.mark.looptime
async def test_a_retry_after_beyond_the_deadline_is_handed_to_the_pass_at_once() -> None:
    hooks = Hooks()
    fn = Script(failure(429, "120"))

    with pytest.raises(CloudError) as caught:
        await caller(hooks, RetryPolicy(deadline=30))("run", "services.get", fn)

    assert caught.value.retry_after == 120.0
    assert len(fn.times) == 1


@pytest.mark.looptime
async def test_attempts_are_capped() -> None:
    hooks = Hooks()
    fn = Script(*[failure(503) for _ in range(10)])

    with pytest.raises(CloudError):
        await caller(hooks, RetryPolicy(deadline=600, max_attempts=3))("iap", "getIamPolicy", fn)

    assert len(fn.times) == 3
    assert hooks.refused == [("iap", "getIamPolicy", "attempts")]


@pytest.mark.parametrize("error", [failure(404), failure(409), failure(412), failure(403), failure(400)])
async def test_answers_a_retry_cannot_change_are_not_retried(error: BaseException) -> None:
    hooks = Hooks()
    fn = Script(error)

    with pytest.raises(CloudError):
        await caller(hooks)("compute", "backendServices.get", fn)

    assert len(fn.times) == 1
    assert hooks.retries == hooks.refused == []


@pytest.mark.looptime
async def test_a_write_that_cannot_be_repeated_safely_is_not_retried() -> None:
    hooks = Hooks()
    unguarded = Script(failure(503))
    with pytest.raises(CloudError):
        await caller(hooks)("compute", "backendServices.insert", unguarded, request={"project": "p"})
    assert len(unguarded.times) == 1
    assert hooks.refused == [("compute", "backendServices.insert", "unsafe")]

    with_id = Script(failure(503))
    request = {"project": "p", "request_id": "0d4a8b3e-6f35-4c52-9a55-bb6f3c1d2e7f"}
    assert await caller(hooks)("compute", "backendServices.insert", with_id, request=request) == "ok"
    assert len(with_id.times) == 2


def test_what_is_safe_to_repeat() -> None:
    etagged = iam_policy_pb2.SetIamPolicyRequest(resource="r", policy=policy_pb2.Policy(etag=b"BwX"))
    bare = iam_policy_pb2.SetIamPolicyRequest(resource="r", policy=policy_pb2.Policy())
    labels = compute_v1.GlobalSetLabelsRequest(label_fingerprint="42WmSpB8rSM=", labels={})
    no_labels_fp = compute_v1.GlobalSetLabelsRequest(labels={})
    assert repeatable("compute", "globalAddresses.get", {})
    assert repeatable("compute", "regionOperations.wait", {})
    assert repeatable("iap", "getIamPolicy", {})
    assert repeatable("compute", "urlMaps.patch", {"request": {"request_id": "x"}})
    assert not repeatable("compute", "urlMaps.patch", {"request": {"url_map": "m"}})
    assert repeatable("compute", "globalAddresses.set_labels", {"request": {"body": labels}})
    assert not repeatable("compute", "globalAddresses.set_labels", {"request": {"body": no_labels_fp}})
    assert repeatable("iap", "setIamPolicy", {"request": etagged})
    assert not repeatable("run", "setIamPolicy", {"request": bare})
    run_patch = {"service": run_v2.Service(name="s", etag='"abc"')}
    assert repeatable("run", "services.patch", {"request": run_patch})
    assert not repeatable("run", "services.patch", {"request": {"service": run_v2.Service(name="s")}})
    assert repeatable("serviceusage", "services.generateServiceIdentity", {})


@pytest.mark.looptime
async def test_the_budget_stops_retries_when_calls_mostly_fail_and_successes_refill_it() -> None:
    hooks = Hooks()
    budget = RetryBudget(ratio=1.0, min_per_second=0.0, burst=2)
    call = caller(hooks, RetryPolicy(deadline=600, max_attempts=10), budget)

    with pytest.raises(CloudError):
        await call("compute", "urlMaps.get", Script(*[failure(503) for _ in range(10)]))
    assert len(hooks.retries) == 2  # the burst, then nothing
    assert hooks.refused == [("compute", "urlMaps.get", "budget")]

    await call("compute", "urlMaps.get", Script())  # a success pays for one retry
    assert await call("compute", "urlMaps.get", Script(failure(503))) == "ok"
    assert len(hooks.retries) == 3


def test_the_budget_trickles_back_with_time() -> None:
    budget = RetryBudget(ratio=0.0, min_per_second=2.0, burst=1)
    assert budget.try_spend(0.0)
    assert not budget.try_spend(0.1)
    assert budget.try_spend(0.6)


async def test_a_closed_gate_refuses_writes_and_lets_reads_through() -> None:
    hooks = Hooks()
    write = Script()
    call = caller(hooks, may_write=lambda: False)

    with pytest.raises(WriteFenced):
        await call("compute", "backendServices.patch", write, request={"request_id": "x"})
    assert await call("compute", "backendServices.get", Script()) == "ok"

    assert write.times == []
    assert hooks.refused == [("compute", "backendServices.patch", "fenced")]
    assert isinstance(WriteFenced("compute", "x"), asyncio.CancelledError)  # a cancellation, not an error


async def test_the_gate_is_checked_on_the_worker_thread_right_before_the_request() -> None:
    """A write queued behind a slow call when the lease goes is not sent."""
    hooks = Hooks()
    gate = threading.Event()
    gate.set()
    release = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    call = caller(hooks, may_write=gate.is_set, executor=pool)
    write = Script()
    try:
        slow = asyncio.ensure_future(call("compute", "urlMaps.get", lambda: release.wait(5)))
        queued = asyncio.ensure_future(call("compute", "urlMaps.patch", write, request={"request_id": "x"}))
        await asyncio.sleep(0)  # both submitted: the patch waits for the only worker
        gate.clear()
        release.set()
        assert await slow is True
        with pytest.raises(WriteFenced):
            await queued
    finally:
        release.set()
        await asyncio.to_thread(pool.shutdown, wait=True)
    assert write.times == []


async def test_a_retried_insert_repeats_its_request_id(cloud: Cloud, emulator: EmulatorHandle) -> None:
    neg = chain().neg
    emulator.add_fault(method="POST", path=r"/networkEndpointGroups$", status=503, count=1)

    assert (await cloud.negs.create(PROJECT, neg, MARKS)).spec == neg

    inserts = requests_to(emulator, "POST", "/networkEndpointGroups")
    assert [r["status"] for r in inserts] == [503, 200]
    ids = {r["query"].get("requestId") for r in inserts}
    assert len(ids) == 1
    assert None not in ids


async def test_a_throttled_read_is_retried_after_its_retry_after(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    neg = chain().neg
    emulator.add_fault(method="GET", path=r"/networkEndpointGroups/", status=429, retry_after=0.3, count=1)
    loop = asyncio.get_running_loop()
    start = loop.time()

    assert await cloud.negs.find(PROJECT, neg.key) is None

    assert loop.time() - start >= 0.3
    assert [r["status"] for r in requests_to(emulator, "GET", neg.key.name)] == [429, 404]
