"""Protected is announced through the progress callback as soon as it holds, once per generation."""

from __future__ import annotations

import copy

from iap_operator.engine.conditions import Condition, Type
from iap_operator.engine.errors import Fault

from .fakes import FakeGcp
from .scenario import Harness, spec


async def test_protected_is_announced_once_then_not_on_resync(gcp: FakeGcp, harness: Harness) -> None:
    heard: list[list[Condition]] = []

    async def progress(conditions: list[Condition]) -> None:
        heard.append(conditions)

    outcome = await harness.reconciler.reconcile(harness.identity, spec(), None, progress)
    harness.status = harness.written(outcome, None)
    assert [[(c.type, c.status) for c in batch] for batch in heard] == [[(Type.PROTECTED, True)]]

    await harness.reconciler.reconcile(harness.identity, spec(), copy.deepcopy(harness.status), progress)
    assert len(heard) == 1, "already Protected for this generation: nothing to announce"


async def test_a_failing_progress_callback_does_not_fail_the_pass(gcp: FakeGcp, harness: Harness) -> None:
    async def broken(_: list[Condition]) -> None:
        raise ConnectionError("the API server is away")

    outcome = await harness.reconciler.reconcile(harness.identity, spec(), None, broken)

    assert outcome.error is None
    assert {c.type: c.status for c in outcome.conditions}[Type.PROTECTED] is True


async def test_nothing_is_announced_when_protection_fails(gcp: FakeGcp, harness: Harness) -> None:
    heard: list[list[Condition]] = []

    async def progress(conditions: list[Condition]) -> None:
        heard.append(conditions)

    gcp.fail("cloud_run", "update", Fault.PERMISSION_DENIED, times=5)
    await harness.reconciler.reconcile(harness.identity, spec(), None, progress)
    assert heard == []
