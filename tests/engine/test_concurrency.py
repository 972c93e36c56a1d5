"""Independent steps of a pass really run at the same time (and dependent ones wait)."""

from __future__ import annotations

import asyncio

from iap_operator.engine.resources import Kind

from .fakes import Call, FakeGcp
from .scenario import Harness, key, spec

RENDEZVOUS_TIMEOUT = 5.0


def rendezvous(gcp: FakeGcp, calls: list[tuple[str, str, str | None]]) -> list[str]:
    """Every listed call waits until all of them are in flight: a deadlock (timeout) if run one by one."""
    barrier = asyncio.Barrier(len(calls))
    met: list[str] = []

    for port, method, subject in calls:

        async def hook(call: Call, subject: str | None = subject) -> None:
            if subject is None or call.subject == subject:
                met.append(f"{call.port}.{call.method}")
                await asyncio.wait_for(barrier.wait(), RENDEZVOUS_TIMEOUT)

        gcp.recorder.before(port, method, hook)
    return met


async def test_independent_steps_overlap(gcp: FakeGcp, harness: Harness) -> None:
    met = rendezvous(
        gcp,
        [
            ("negs", "create", None),
            ("ssl_certificates", "create", None),
            ("addresses", "create", None),
            ("url_maps", "create", key(Kind.URL_MAP, "um-redirect").name),
            ("identities", "ensure_service_identity", None),
            ("cloud_run", "update", None),
        ],
    )

    outcome = await harness.reconcile(spec())

    assert len(met) == 6
    assert outcome.error is None
    assert len(gcp.compute_items()) == 10


async def test_a_dependent_step_starts_after_its_dependency(gcp: FakeGcp, harness: Harness) -> None:
    """The NEG create yields to the loop many times: a backend service step running early would see no NEG."""
    seen: list[int] = []

    async def slow_neg(_: Call) -> None:
        for _turn in range(50):
            await asyncio.sleep(0)  # a yield, not a wait: lets every other ready task run

    async def check(call: Call) -> None:
        if call.subject != key(Kind.URL_MAP, "um-redirect").name:  # the redirect map needs no NEG
            seen.append(len(gcp.negs.items))

    gcp.recorder.before("negs", "create", slow_neg)
    gcp.recorder.before("backend_services", "find", check)
    gcp.recorder.before("url_maps", "find", check)

    await harness.reconcile(spec())

    assert len(seen) == 2
    assert all(count == 1 for count in seen)
