"""Drift: someone changes what the operator manages; the next pass repairs it and says so."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from iap_operator.engine.resources import IamTarget, IamTargetKind, IapSettings, Kind

from .fakes import FakeGcp
from .scenario import (
    ACCESSOR,
    AGENT_MEMBER,
    ALICE,
    INGRESS_LB,
    INVOKER,
    INVOKER_TARGET,
    NUMBER,
    PROJECT,
    REGION,
    SERVICE,
    Harness,
    key,
    spec,
)


def access_target(gcp: FakeGcp) -> IamTarget:
    return IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, gcp.backend_services.only().id)


def disable_iap(gcp: FakeGcp) -> None:
    gcp.backend_services.mutate(PROJECT, key(Kind.BACKEND_SERVICE, "bs"), iap=IapSettings(enabled=False))


def reopen_ingress(gcp: FakeGcp) -> None:
    gcp.cloud_run.mutate(PROJECT, REGION, SERVICE, ingress="INGRESS_TRAFFIC_ALL")


def remove_invoker(gcp: FakeGcp) -> None:
    gcp.iam.remove(INVOKER_TARGET, INVOKER, AGENT_MEMBER)


def remove_member(gcp: FakeGcp) -> None:
    gcp.iam.remove(access_target(gcp), ACCESSOR, ALICE)


def repaired_iap(gcp: FakeGcp) -> bool:
    return gcp.backend_services.only().spec.iap == IapSettings(enabled=True)


def repaired_ingress(gcp: FakeGcp) -> bool:
    return gcp.cloud_run.get(PROJECT, REGION, SERVICE).ingress == INGRESS_LB


def repaired_invoker(gcp: FakeGcp) -> bool:
    return gcp.iam.members(INVOKER_TARGET, INVOKER) == {AGENT_MEMBER}


def repaired_member(gcp: FakeGcp) -> bool:
    return gcp.iam.members(access_target(gcp), ACCESSOR) == {ALICE}


Change = Callable[[FakeGcp], object]


@pytest.mark.parametrize(
    ("drift", "repaired", "write"),
    [
        pytest.param(disable_iap, repaired_iap, ("backend_services", "update"), id="iap-disabled"),
        pytest.param(reopen_ingress, repaired_ingress, ("cloud_run", "update"), id="ingress-reopened"),
        pytest.param(remove_invoker, repaired_invoker, ("iam", "set_policy"), id="invoker-removed"),
        pytest.param(remove_member, repaired_member, ("iam", "set_policy"), id="member-removed"),
    ],
)
async def test_drift_is_repaired_with_an_event(
    gcp: FakeGcp, harness: Harness, drift: Change, repaired: Callable[[FakeGcp], bool], write: tuple[str, str]
) -> None:
    await harness.ready(spec())
    drift(gcp)
    assert not repaired(gcp)

    outcome = await harness.reconcile(spec())

    assert repaired(gcp)
    assert [(c.port, c.method) for c in gcp.writes()] == [write]
    assert [e.reason for e in outcome.events] == ["DriftRepaired"]
    assert outcome.events[0].warning
    assert outcome.ready

    gcp.recorder.clear()
    again = await harness.reconcile(spec())
    assert gcp.writes() == []
    assert again.events == []


async def test_a_change_before_ready_is_an_update_not_drift(gcp: FakeGcp, harness: Harness) -> None:
    await harness.reconcile(spec())  # certificate still provisioning: not Ready yet
    reopen_ingress(gcp)

    outcome = await harness.reconcile(spec())

    assert repaired_ingress(gcp)
    assert [e.reason for e in outcome.events] == ["Updated"]
    assert not outcome.events[0].warning
