"""Claims: one IapProtectedService per Cloud Run service (and attached backend service), on GCP."""

from __future__ import annotations

import dataclasses

from iap_operator.engine.claims import claims_in
from iap_operator.engine.conditions import Reason
from iap_operator.engine.marks import NEVER, MarkKind, parse
from iap_operator.engine.resources import IamTarget, IamTargetKind

from .fakes import Call, FakeGcp
from .scenario import (
    ACCESSOR,
    AGENT_MEMBER,
    ALICE,
    INVOKER,
    INVOKER_TARGET,
    NAMESPACE,
    NUMBER,
    Harness,
    attach_spec,
    direct_spec,
    identity,
    ownership,
    reasons,
    settings,
    spec,
)
from .test_modes import shared_backend_service

FOREIGN = "user:ops@example.com"


def ready_message(outcome: object) -> str:
    return next(c.message for c in outcome.conditions if c.type == "Ready")  # type: ignore[attr-defined]


async def test_the_claim_names_the_holder_grants_nothing_and_records_the_lineage(
    gcp: FakeGcp, harness: Harness
) -> None:
    await harness.ready(spec())

    (claim,) = claims_in(gcp.iam.policy(INVOKER_TARGET))
    assert claim.mark.kind is MarkKind.CLAIM
    assert claim.holder == f"default/{NAMESPACE}/web"
    assert claim.binding.role == INVOKER
    assert claim.binding.members == {AGENT_MEMBER}
    assert claim.binding.condition is not None
    assert claim.binding.condition[2] == NEVER  # a mark, not a grant
    assert claim.mark.names == ownership().lineage.names
    assert harness.status is not None
    assert harness.status["owner"] == f"default/{NAMESPACE}/web"


async def test_a_second_resource_on_the_same_service_waits_writes_nothing_then_takes_over(
    gcp: FakeGcp,
) -> None:
    gcp.iam.add(INVOKER_TARGET, INVOKER, FOREIGN)
    first = Harness(gcp, identity("shared-a"))
    second = Harness(gcp, identity("shared-b"))
    await first.ready(spec())

    outcome = await second.reconcile(spec(loadBalancer={"domains": ["b.example.com"]}))

    assert gcp.writes() == []
    assert reasons(outcome)["Ready"] == (False, Reason.MANAGEMENT_CONFLICT)
    assert f"default/{NAMESPACE}/shared-a" in ready_message(outcome)
    assert outcome.poll_after == second.settings.missing_retry  # it looks again: the holder may go
    assert not outcome.stalled

    assert (await first.teardown(spec())).done
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {FOREIGN}

    outcome = await second.reconcile(spec(loadBalancer={"domains": ["b.example.com"]}))
    assert reasons(outcome)["InvokerGranted"] == (True, Reason.UP_TO_DATE)
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {FOREIGN, AGENT_MEMBER}
    assert [c.holder for c in claims_in(gcp.iam.policy(INVOKER_TARGET))] == [f"default/{NAMESPACE}/shared-b"]


async def test_the_other_resource_may_live_in_another_namespace_or_cluster(gcp: FakeGcp) -> None:
    await Harness(gcp).ready(spec())
    elsewhere = Harness(gcp, identity("web"), settings(cluster_name="prod-eu", projects=settings().projects))
    other_namespace = Harness(
        gcp,
        dataclasses.replace(identity("web"), namespace="team-b"),
        settings(projects=settings().projects.parse("team-a=demo-project;team-b=demo-project")),
    )

    for other in (elsewhere, other_namespace):
        outcome = await other.reconcile(direct_spec())
        assert reasons(outcome)["Ready"] == (False, Reason.MANAGEMENT_CONFLICT)
        assert f"default/{NAMESPACE}/web" in ready_message(outcome)
    assert gcp.writes() == []


async def test_deleting_a_waiting_resource_removes_nothing_of_the_holder(gcp: FakeGcp) -> None:
    holder = Harness(gcp, identity("shared-a"))
    waiting = Harness(gcp, identity("shared-b"))
    await holder.ready(spec())
    await waiting.reconcile(spec())
    policy = gcp.iam.policy(INVOKER_TARGET)

    outcome = await waiting.teardown(spec())

    assert outcome.done
    assert [c for c in gcp.writes() if c.method != "find"] == []
    assert gcp.iam.policy(INVOKER_TARGET) == policy
    assert len(gcp.compute_items()) == 10


async def test_a_claim_taken_between_our_read_and_write_stops_us_before_anything_else(
    gcp: FakeGcp, harness: Harness
) -> None:
    rival = Harness(gcp, identity("rival"))
    raced: list[Call] = []

    async def rival_claims_first(call: Call) -> None:
        if call.subject == str(INVOKER_TARGET) and not raced:
            raced.append(call)
            await rival.reconcile(direct_spec())  # its own etag-guarded write lands first

    gcp.recorder.before("iam", "set_policy", rival_claims_first)

    outcome = await harness.reconcile(spec())

    assert reasons(outcome)["InvokerGranted"] == (False, Reason.MANAGEMENT_CONFLICT)
    assert f"default/{NAMESPACE}/rival" in ready_message(outcome)
    assert gcp.compute_items() == {}  # every write waited for the claim
    assert [c.holder for c in claims_in(gcp.iam.policy(INVOKER_TARGET))] == [f"default/{NAMESPACE}/rival"]


async def test_attach_mode_claims_the_backend_service_too(gcp: FakeGcp) -> None:
    shared_backend_service(gcp)
    first = Harness(gcp, identity("first"))
    await first.reconcile(attach_spec())
    bs_iap = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, gcp.backend_services.only().id)
    (claim,) = claims_in(gcp.iam.policy(bs_iap))
    assert claim.holder == f"default/{NAMESPACE}/first"
    assert gcp.iam.members(bs_iap, ACCESSOR) == {ALICE}  # the claim itself grants nothing
    gcp.cloud_run.put("demo-project", "europe-west1", "other")
    gcp.recorder.clear()

    # Another Cloud Run service, the same backend service: the backend service's claim refuses it.
    second = Harness(gcp, identity("second"))
    outcome = await second.reconcile(attach_spec(cloudRun={"service": "other", "region": "europe-west1"}))

    assert reasons(outcome)["Ready"] == (False, Reason.MANAGEMENT_CONFLICT)
    assert "backend service 'shared-bs'" in ready_message(outcome)
    assert gcp.writes() == []


async def test_a_removed_claim_is_taken_again_without_building_anew(gcp: FakeGcp, harness: Harness) -> None:
    """Someone edits the policy by hand and drops every binding of ours: drift, not a new owner."""
    await harness.ready(spec())
    for binding in gcp.iam.policy(INVOKER_TARGET).bindings:
        for member in binding.members:
            gcp.iam.remove(INVOKER_TARGET, binding.role, member)
    harness.bump()

    outcome = await harness.reconcile(spec())

    assert outcome.ready
    assert [c.port for c in gcp.writes()] == ["iam"]
    assert claims_in(gcp.iam.policy(INVOKER_TARGET))
    assert parse(claims_in(gcp.iam.policy(INVOKER_TARGET))[0].binding.condition) is not None
