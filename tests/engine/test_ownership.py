"""ManagementConflict: a resource with our name that is not ours is reported, never updated or deleted."""

from __future__ import annotations

import pytest

from iap_operator.engine.conditions import Reason
from iap_operator.engine.resources import (
    Address,
    BackendService,
    IapSettings,
    Kind,
    Marks,
    Spec,
    UrlMap,
)

from .fakes import FakeGcp
from .scenario import PROJECT, Harness, key, ownership, reasons, spec

HAND_MADE = Marks(description="made by hand by the network team")


def foreign_url_map() -> UrlMap:
    return UrlMap(key(Kind.URL_MAP, "um"), default_service="projects/demo-project/global/backendServices/x")


def foreign_backend_service() -> BackendService:
    return BackendService(key(Kind.BACKEND_SERVICE, "bs"), iap=IapSettings(enabled=False))


@pytest.mark.parametrize(
    "squatter",
    [
        pytest.param(foreign_url_map(), id="url-map"),
        pytest.param(foreign_backend_service(), id="backend-service"),
    ],
)
async def test_a_foreign_resource_with_our_name_is_not_touched(
    gcp: FakeGcp, harness: Harness, squatter: Spec
) -> None:
    store = gcp.compute(squatter.key.kind)
    before = store.put(PROJECT, squatter, HAND_MADE)

    outcome = await harness.reconcile(spec())

    squatter_writes = [c for c in gcp.writes() if c.port == store.port and c.subject == squatter.key.name]
    assert squatter_writes == []
    assert store.get(PROJECT, squatter.key) == before
    assert outcome.stalled
    assert outcome.error is None
    state = reasons(outcome)
    assert state["Ready"] == (False, Reason.MANAGEMENT_CONFLICT)
    assert state["Stalled"] == (True, Reason.MANAGEMENT_CONFLICT)
    assert state["LoadBalancerReady"] == (False, Reason.MANAGEMENT_CONFLICT)
    ready = next(c for c in outcome.conditions if c.type == "Ready")
    assert squatter.key.name in ready.message

    teardown = await harness.teardown(spec())

    assert store.get(PROJECT, squatter.key) == before  # never deleted either
    assert not [c for c in gcp.writes() if c.method == "delete" and c.subject == squatter.key.name]
    assert teardown.done


async def test_a_resource_marked_by_another_owner_is_not_ours(gcp: FakeGcp, harness: Harness) -> None:
    other = ownership(cluster="prod-eu")  # the same namespace/name in another cluster
    address = Address(key(Kind.ADDRESS, "ip"))  # our name, but another owner's marks
    before = gcp.addresses.put(PROJECT, address, other.marks())

    outcome = await harness.reconcile(spec())

    assert reasons(outcome)["LoadBalancerReady"] == (False, Reason.MANAGEMENT_CONFLICT)
    assert not [c for c in gcp.writes() if c.port == "addresses"]
    assert gcp.addresses.get(PROJECT, address.key) == before


def test_released_marks_say_whose_they_were_and_stay_ours_to_adopt() -> None:
    who = ownership()
    theirs = ownership(cluster="prod-eu")
    marks = Marks(f"platform team; {who.marks().description}", dict(who.marks().labels) | {"cost": "42"})

    released = who.released(marks)

    assert released.labels == {"cost": "42"}
    assert "Managed by" not in released.description
    assert (
        f"Released by iap-operator (was for {who.owner.ref}, owner {who.owner.id})." in released.description
    )
    assert released.description.startswith("platform team;")
    assert who.owns(released)  # the same owner (or an heir) takes it back
    assert not theirs.owns(released)
    remarked = who.remarked(released)
    assert remarked.description == f"platform team; {who.marks().description}"
    assert remarked.labels == {"cost": "42", **who.marks().labels}
    assert who.owns(remarked)
