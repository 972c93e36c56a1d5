"""State rebuilt from GCP: rebuilt clusters, restores, lost status, adoption, earlier versions."""

from __future__ import annotations

import dataclasses
from typing import Any

from iap_operator.engine import desired, plan
from iap_operator.engine.claims import claims_in
from iap_operator.engine.conditions import Reason
from iap_operator.engine.errors import Fault
from iap_operator.engine.identity import MANAGED_BY_LABEL, OWNER_LABEL, Identity, Lineage, Owner, Ownership
from iap_operator.engine.marks import MarkKind
from iap_operator.engine.resources import Binding, IamTarget, IamTargetKind, Kind, Marks, Policy

from .fakes import FakeGcp
from .scenario import (
    ACCESSOR,
    AGENT_MEMBER,
    ALICE,
    BOB,
    INVOKER,
    INVOKER_TARGET,
    NAMESPACE,
    NUMBER,
    PROJECT,
    Harness,
    identity,
    reasons,
    settings,
    spec,
)

FOREIGN = "user:ops@example.com"
RESTORED_UID = "5e6f0000-4444-4c1e-9d55-6f2d3c4b5a69"


def access_target(gcp: FakeGcp) -> IamTarget:
    return IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, gcp.backend_services.only().id)


def creates(gcp: FakeGcp) -> list[str]:
    return [c.port for c in gcp.writes() if c.method == "create"]


async def built(gcp: FakeGcp, harness: Harness, spec_: Any = None) -> dict[Any, Any]:
    """Ready with a foreign access binding next to ours; returns the compute resources."""
    await harness.ready(spec_ or spec())
    gcp.iam.add(INVOKER_TARGET, INVOKER, FOREIGN)
    if gcp.backend_services.items:
        gcp.iam.add(access_target(gcp), ACCESSOR, FOREIGN)
    gcp.recorder.clear()
    return gcp.compute_items()


async def test_a_rebuilt_cluster_adopts_everything_with_zero_writes(gcp: FakeGcp, harness: Harness) -> None:
    before = await built(gcp, harness)
    rebuilt = Harness(gcp, identity(uid=RESTORED_UID))  # same cluster name, namespace, name; no status

    outcome = await rebuilt.reconcile(spec())

    assert outcome.ready, reasons(outcome)
    assert gcp.writes() == []
    assert gcp.compute_items() == before  # same address, same certificate
    assert outcome.status["ipAddress"] == gcp.addresses.only().outputs["address"]
    assert outcome.status["grants"]["access"] == [ALICE]
    assert outcome.status["serviceAgent"]  # read back from the claim: nothing generated again


async def test_a_restore_with_wiped_status_deletes_exactly_its_own(gcp: FakeGcp, harness: Harness) -> None:
    await built(gcp, harness)
    restored = Harness(gcp, identity(uid=RESTORED_UID))

    outcome = await restored.teardown(spec())

    assert outcome.done, outcome.errors
    assert gcp.compute_items() == {}
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {FOREIGN}
    assert claims_in(gcp.iam.policy(INVOKER_TARGET)) == []


async def test_a_wiped_status_still_revokes_a_removed_member(gcp: FakeGcp, harness: Harness) -> None:
    await built(gcp, harness, spec(access={"members": [ALICE, BOB]}))
    harness.status = None  # lost
    harness.bump()

    await harness.reconcile(spec(access={"members": [ALICE]}))

    assert gcp.iam.members(access_target(gcp), ACCESSOR) == {ALICE, FOREIGN}


async def test_a_wiped_status_does_not_hide_an_orphan(gcp: FakeGcp, harness: Harness) -> None:
    """A domain change made a new certificate; the old one's delete failed, then status was lost."""
    await harness.ready(spec())
    old = gcp.ssl_certificates.only().spec.key
    gcp.fail("ssl_certificates", "delete", Fault.TRANSIENT)
    harness.bump()
    await harness.reconcile(spec(loadBalancer={"domains": ["www.example.com"]}))
    assert gcp.ssl_certificates.get(PROJECT, old) is not None
    harness.status = None

    await harness.reconcile(spec(loadBalancer={"domains": ["www.example.com"]}))

    assert gcp.ssl_certificates.get(PROJECT, old) is None
    assert len(gcp.ssl_certificates.items) == 1
    assert any(c.port == "inventory" for c in gcp.calls())


async def test_an_up_to_date_pass_lists_nothing(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())

    await harness.reconcile(spec())

    assert not [c for c in gcp.calls() if c.port == "inventory"]


async def test_abandon_then_adopt_in_another_cluster_keeps_address_and_certificate(gcp: FakeGcp) -> None:
    old = Harness(gcp, identity(), settings(cluster_name="blue"))
    before = await built(gcp, old)
    assert (await old.teardown(spec(), abandon=True)).done
    gcp.recorder.clear()
    heir = Identity(NAMESPACE, "web", RESTORED_UID, adopt_from="blue")
    new = Harness(gcp, heir, settings(cluster_name="green"))

    outcome = await new.reconcile(spec())

    assert outcome.ready, reasons(outcome)
    assert creates(gcp) == []
    assert gcp.compute_items().keys() == before.keys()
    assert gcp.addresses.only().id == next(o.id for (_, k), o in before.items() if k.kind is Kind.ADDRESS)
    green = Owner("green", NAMESPACE, "web")
    for (_, k), observed in gcp.compute_items().items():
        if k.kind in {Kind.ADDRESS, Kind.FORWARDING_RULE}:
            assert observed.marks.labels[OWNER_LABEL] == green.id  # relabelled as the heir's
    (claim,) = claims_in(gcp.iam.policy(INVOKER_TARGET))
    assert claim.holder == "green/team-a/web"
    assert claim.mark.inherits == {Owner("blue", NAMESPACE, "web").id}
    assert gcp.iam.members(access_target(gcp), ACCESSOR) == {ALICE, FOREIGN}
    assert outcome.status["grants"]["access"] == [ALICE]  # the grant is the heir's now

    gcp.recorder.clear()
    again = await new.reconcile(spec())
    assert again.ready
    assert gcp.writes() == []

    assert (await new.teardown(spec())).done
    assert gcp.compute_items() == {}
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {FOREIGN}
    assert claims_in(gcp.iam.policy(INVOKER_TARGET)) == []  # blue's released claim went with green's


async def test_adopting_what_is_still_held_is_a_conflict_that_says_how(gcp: FakeGcp) -> None:
    await built(gcp, Harness(gcp, identity(), settings(cluster_name="blue")))
    heir = Harness(
        gcp, Identity(NAMESPACE, "web", RESTORED_UID, adopt_from="blue"), settings(cluster_name="green")
    )

    outcome = await heir.reconcile(spec())

    assert reasons(outcome)["Ready"] == (False, Reason.MANAGEMENT_CONFLICT)
    message = next(c.message for c in outcome.conditions if c.type == "Ready")
    assert "blue/team-a/web" in message
    assert "Abandon" in message
    assert gcp.writes() == []


async def test_adopting_what_nobody_released_writes_nothing(gcp: FakeGcp) -> None:
    heir = Harness(
        gcp, Identity(NAMESPACE, "web", RESTORED_UID, adopt_from="blue"), settings(cluster_name="green")
    )

    outcome = await heir.reconcile(spec())

    assert reasons(outcome)["Ready"] == (False, Reason.NOT_FOUND)
    assert gcp.writes() == []
    assert (await heir.teardown(spec())).done


async def test_recreated_with_the_same_name_after_abandon_adopts(gcp: FakeGcp, harness: Harness) -> None:
    before = await built(gcp, harness)
    assert (await harness.teardown(spec(), abandon=True)).done
    address = gcp.addresses.only()
    assert MANAGED_BY_LABEL not in address.marks.labels
    gcp.recorder.clear()
    again = Harness(gcp, identity(uid=RESTORED_UID))

    outcome = await again.reconcile(spec())

    assert outcome.ready
    assert creates(gcp) == []
    assert gcp.compute_items().keys() == before.keys()
    assert gcp.addresses.only().marks.labels[OWNER_LABEL] == Owner.of("default", identity()).id
    (claim,) = claims_in(gcp.iam.policy(INVOKER_TARGET))
    assert claim.mark.kind is MarkKind.CLAIM


async def test_after_abandon_another_owner_builds_its_own(gcp: FakeGcp, harness: Harness) -> None:
    """Released is not adoptable by just anyone: only by the same identity or an explicit heir."""
    before = await built(gcp, harness)
    assert (await harness.teardown(spec(), abandon=True)).done
    other = Harness(gcp, identity(), settings(cluster_name="green"))

    outcome = await other.reconcile(spec())

    assert reasons(outcome)["LoadBalancerReady"] == (True, Reason.UP_TO_DATE)
    assert len(gcp.compute_items()) == 2 * len(before)  # the abandoned balancer is the user's now
    assert all(before[k].spec == gcp.compute_items()[k].spec for k in before)


# --- objects of an earlier version (names and marks from the uid, grants only in status) ----------------


def legacy_world(gcp: FakeGcp, who: Identity) -> dict[str, Any]:
    """What an earlier operator version left: uid-named resources, plain grants, a status without owner."""
    legacy = Ownership(Owner("default", who.namespace, who.name), Lineage.legacy(who.uid))
    marks = Marks(
        f"Managed by iap-operator for {who.namespace}/{who.name} (owner {who.uid}).",
        {MANAGED_BY_LABEL: "iap-operator", OWNER_LABEL: who.uid},
    )
    built = plan.build(spec(), project=PROJECT, names=legacy.resource_name, oauth=None, held=True)
    owned = [n.want for n in built.nodes if n.owned and n.want is not None]
    for resource in owned:
        outputs = {"status": "ACTIVE"} if resource.key.kind is Kind.SSL_CERTIFICATE else None
        gcp.compute(resource.key.kind).put(PROJECT, resource, marks, outputs)
    gcp.backend_services.items = {
        k: dataclasses.replace(v, spec=dataclasses.replace(v.spec, iap=desired.iap_settings(None)))
        for k, v in gcp.backend_services.items.items()
    }
    gcp.cloud_run.mutate(PROJECT, "europe-west1", "hello", ingress=desired.INGRESS_LB)
    gcp.iam.add(INVOKER_TARGET, INVOKER, AGENT_MEMBER, FOREIGN)
    gcp.iam.add(access_target(gcp), ACCESSOR, ALICE, FOREIGN)
    return {
        "observedGeneration": 1,
        "serviceAgent": AGENT_MEMBER.removeprefix("serviceAccount:"),
        "grants": {"invoker": [AGENT_MEMBER], "access": [ALICE]},
        "resources": [
            {"kind": str(r.key.kind), "name": r.key.name, "scope": r.key.scope, "created": True}
            for r in owned
        ],
    }


async def test_an_earlier_versions_object_is_migrated_in_place(gcp: FakeGcp, harness: Harness) -> None:
    harness.status = legacy_world(gcp, harness.identity)
    before = gcp.compute_items()
    gcp.recorder.clear()

    outcome = await harness.reconcile(spec())

    assert outcome.ready, reasons(outcome)
    assert creates(gcp) == []  # the uid-named balancer is kept
    assert gcp.compute_items().keys() == before.keys()
    assert outcome.status["owner"] == f"default/{NAMESPACE}/web"
    # Our grants moved into our own bindings; the foreign plain grants of the same role stayed.
    assert gcp.iam.members(INVOKER_TARGET, INVOKER, None) == {FOREIGN}
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {FOREIGN, AGENT_MEMBER}
    assert gcp.iam.members(access_target(gcp), ACCESSOR, None) == {FOREIGN}
    assert gcp.iam.members(access_target(gcp), ACCESSOR) == {FOREIGN, ALICE}
    (claim,) = claims_in(gcp.iam.policy(INVOKER_TARGET))
    assert claim.mark.names == Lineage.legacy(harness.identity.uid).names

    harness.status = None  # and now, with the claim on GCP, a lost status changes nothing
    gcp.recorder.clear()
    assert (await harness.reconcile(spec())).ready
    assert gcp.writes() == []

    assert (await harness.teardown(spec())).done
    assert gcp.compute_items() == {}
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {FOREIGN}


async def test_an_earlier_versions_object_whose_status_was_lost_is_found_by_name(
    gcp: FakeGcp, harness: Harness
) -> None:
    legacy_world(gcp, harness.identity)  # the status is gone; the object (its uid) is the same
    gcp.recorder.clear()

    outcome = await harness.reconcile(spec())

    assert outcome.ready, reasons(outcome)
    assert creates(gcp) == []


async def test_an_earlier_versions_balancer_of_a_restored_object_is_reported_then_adopted(
    gcp: FakeGcp,
) -> None:
    old = identity()
    legacy_world(gcp, old)
    restored = Harness(gcp, identity(uid=RESTORED_UID))  # new uid, no status: its names are unknown
    gcp.recorder.clear()

    outcome = await restored.reconcile(spec())

    assert reasons(outcome)["Ready"] == (False, Reason.MANAGEMENT_CONFLICT)
    message = next(c.message for c in outcome.conditions if c.type == "Ready")
    assert f"iap-operator.dev/adopt-from: 'uid:{old.uid}'" in message
    assert gcp.writes() == []  # no second balancer

    heir = Harness(gcp, dataclasses.replace(identity(uid=RESTORED_UID), adopt_from=f"uid:{old.uid}"))
    outcome = await heir.reconcile(spec())

    assert outcome.ready, reasons(outcome)
    assert creates(gcp) == []
    assert gcp.iam.members(access_target(gcp), ACCESSOR) == {ALICE, FOREIGN}
    assert (await heir.teardown(spec())).done
    assert gcp.compute_items() == {}


def test_policy_helpers_are_pure() -> None:
    """The plain Policy type compares by value (the fakes rely on it)."""
    assert Policy((Binding("r", frozenset({"user:a@example.com"})),)) == Policy(
        (Binding("r", frozenset({"user:a@example.com"})),)
    )
