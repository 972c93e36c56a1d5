"""Independent steps of a pass really run at the same time (and dependent ones wait)."""

from __future__ import annotations

import asyncio

from iap_operator.engine.resources import Kind

from .fakes import Call, FakeGcp
from .scenario import (
    AGENT_MEMBER,
    INVOKER,
    INVOKER_TARGET,
    NUMBER,
    Harness,
    grant_condition,
    key,
    spec,
)

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
            ("cloud_run", "update", None),
        ],
    )

    outcome = await harness.reconcile(spec())

    assert len(met) == 5
    assert outcome.error is None
    assert len(gcp.compute_items()) == 10


async def test_every_write_of_a_first_pass_waits_for_the_claim(gcp: FakeGcp, harness: Harness) -> None:
    await harness.reconcile(spec())

    writes = [(c.port, c.method, c.subject) for c in gcp.writes()]
    assert writes[:2] == [
        ("identities", "ensure_service_identity", f"{NUMBER}/iap.googleapis.com"),
        ("iam", "set_policy", str(INVOKER_TARGET)),  # the claim (with the invoker grant)
    ]
    assert len(writes) > 10


async def test_once_the_claim_is_held_writes_do_not_wait_for_it(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())
    harness.bump()
    gcp.iam.remove(INVOKER_TARGET, INVOKER, AGENT_MEMBER, grant_condition())  # drift; the claim stays
    met = rendezvous(gcp, [("ssl_certificates", "create", None), ("iam", "set_policy", str(INVOKER_TARGET))])

    outcome = await harness.reconcile(spec(loadBalancer={"domains": ["www.example.com"]}))

    assert len(met) == 2
    assert outcome.error is None


async def test_a_dependent_step_starts_after_its_dependency(gcp: FakeGcp, harness: Harness) -> None:
    """The NEG create yields to the loop many times: a backend service step running early would see no NEG."""
    seen: list[int] = []

    async def slow_neg(_: Call) -> None:
        for _turn in range(50):
            await asyncio.sleep(0)  # a yield, not a wait: lets every other ready task run

    async def check(call: Call) -> None:
        if call.subject in {key(Kind.BACKEND_SERVICE, "bs").name, key(Kind.URL_MAP, "um").name}:
            seen.append(len(gcp.negs.items))

    gcp.recorder.before("negs", "create", slow_neg)
    gcp.recorder.before("backend_services", "find", check)
    gcp.recorder.before("url_maps", "find", check)

    await harness.reconcile(spec())

    assert len(seen) == 2
    assert all(count == 1 for count in seen)
