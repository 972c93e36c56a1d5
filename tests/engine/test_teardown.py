"""Teardown: reverse dependency order, 404 is done, only what this resource owns; or Abandon."""

from __future__ import annotations

import dataclasses

from iap_operator.engine.claims import claims_in
from iap_operator.engine.errors import Fault
from iap_operator.engine.identity import MANAGED_BY_LABEL, OWNER_LABEL
from iap_operator.engine.marks import MarkKind
from iap_operator.engine.resources import IamTarget, IamTargetKind, Key, Kind, Marks, UrlMap

from .fakes import Call, FakeGcp
from .scenario import (
    ACCESSOR,
    AGENT_MEMBER,
    ALICE,
    INVOKER,
    INVOKER_TARGET,
    NAMESPACE,
    NUMBER,
    PROJECT,
    REGION,
    SERVICE,
    Harness,
    attach_spec,
    direct_spec,
    key,
    ownership,
    spec,
)
from .test_modes import shared_backend_service

CAROL = "user:carol@example.com"
# Whatever refers to a resource goes before it: forwarding rules; proxies and the address they use;
# URL maps and certificates; the backend service; NEGs. Written out here, derived in the plan.
LEVEL = {
    "forwarding_rules": 0,
    "https_proxies": 1,
    "http_proxies": 1,
    "addresses": 1,
    "url_maps": 2,
    "ssl_certificates": 2,
    "backend_services": 3,
    "negs": 4,
}


def deletes(gcp: FakeGcp) -> list[str]:
    return [c.port for c in gcp.writes() if c.method == "delete"]


async def test_delete_goes_in_reverse_dependency_order(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())
    gcp.iam.add(INVOKER_TARGET, INVOKER, CAROL)  # someone else's invoker binding

    outcome = await harness.teardown(spec())

    assert outcome.done, outcome.errors
    assert outcome.errors == []
    assert gcp.compute_items() == {}
    order = [LEVEL[port] for port in deletes(gcp)]
    assert len(order) == 10
    assert order == sorted(order)  # forwarding rules, proxies/address, maps/certs, backend service, NEG
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {CAROL}  # ours revoked, the foreign one kept
    assert [e.reason for e in outcome.events].count("Deleted") == 10
    assert any(e.reason == "Revoked" and AGENT_MEMBER in e.message for e in outcome.events)
    assert gcp.cloud_run.get(PROJECT, REGION, SERVICE).ingress  # the service itself is never deleted


async def test_gone_resources_are_done(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())
    access_target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, gcp.backend_services.only().id)
    rules = list(gcp.forwarding_rules.items)
    for where in rules:
        del gcp.forwarding_rules.items[where]  # deleted by hand already
    gcp.iam.remove(INVOKER_TARGET, INVOKER, AGENT_MEMBER)

    outcome = await harness.teardown(spec())

    assert outcome.done
    assert gcp.compute_items() == {}
    assert "forwarding_rules" not in deletes(gcp)
    iam_writes = [c.subject for c in gcp.writes() if c.port == "iam"]
    assert iam_writes == [str(access_target)]  # access first; the invoker grant was gone already

    gcp.recorder.clear()
    again = await harness.teardown(spec())

    assert again.done
    assert gcp.writes() == []


async def test_a_resource_deleted_between_find_and_delete_is_done(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())

    async def deleted_by_someone_else(call: Call) -> None:
        gcp.negs.items.clear()  # the adapter's delete then meets a 404, which it treats as done

    gcp.recorder.before("negs", "delete", deleted_by_someone_else)

    outcome = await harness.teardown(spec())

    assert outcome.done, outcome.errors
    assert gcp.compute_items() == {}


async def test_resources_not_ours_are_skipped(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())
    um = key(Kind.URL_MAP, "um-redirect")
    gcp.url_maps.items.pop((PROJECT, um))
    foreign = gcp.url_maps.put(PROJECT, UrlMap(um, https_redirect=True), Marks("hand-made"))
    gcp.http_proxies.items.clear()  # its only user, so the map would be deletable
    gcp.forwarding_rules.items.pop((PROJECT, key(Kind.FORWARDING_RULE, "fr-http")))

    outcome = await harness.teardown(spec())

    assert outcome.done
    assert gcp.compute_items() == {(PROJECT, um): foreign}
    assert um.name not in [c.subject for c in gcp.writes()]


async def test_in_use_is_not_done_keeps_the_error_and_is_retried(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())
    bs = gcp.backend_services.only()
    theirs = UrlMap(Key(Kind.URL_MAP, "their-map"), bs.spec.key.path(PROJECT))
    gcp.url_maps.put(PROJECT, theirs, Marks("another team's map using our backend service"))

    outcome = await harness.teardown(spec())

    assert not outcome.done
    assert outcome.error is not None
    assert outcome.error.fault is Fault.IN_USE
    assert outcome.error.transient
    assert len(outcome.errors) == 1
    assert "their-map" in outcome.errors[0]
    assert gcp.backend_services.items  # still there
    assert gcp.negs.items  # the next level was not attempted
    assert "negs" not in deletes(gcp)

    gcp.url_maps.items.pop((PROJECT, theirs.key))
    gcp.recorder.clear()
    outcome = await harness.teardown(spec())

    assert outcome.done
    assert deletes(gcp) == ["backend_services", "negs"]
    assert gcp.compute_items() == {}


async def test_abandon_deletes_nothing_and_strips_our_marks(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())
    address = gcp.addresses.only()
    gcp.addresses.items[(PROJECT, address.spec.key)] = dataclasses.replace(
        address, marks=Marks(address.marks.description, {**address.marks.labels, "cost-center": "42"})
    )
    before = gcp.compute_items()

    outcome = await harness.teardown(spec(), abandon=True)

    assert outcome.done
    assert deletes(gcp) == []
    assert [c.method for c in gcp.writes()] == ["unmark"] * 10 + ["set_policy"]  # the claim, last
    (claim,) = claims_in(gcp.iam.policy(INVOKER_TARGET))
    assert claim.mark.kind is MarkKind.RELEASED  # an heir may adopt it
    assert claim.holder == f"default/{NAMESPACE}/web"
    after = gcp.compute_items()
    assert after.keys() == before.keys()
    who = ownership()
    kept_description = {Kind.NEG, Kind.SSL_CERTIFICATE, Kind.ADDRESS, Kind.FORWARDING_RULE}
    messages = {e.message.split(" in place")[0].split()[-1]: e.message for e in outcome.events}
    for where, observed in after.items():
        key = observed.spec.key
        assert observed.spec == before[where].spec
        assert MANAGED_BY_LABEL not in observed.marks.labels
        assert OWNER_LABEL not in observed.marks.labels
        message = messages[key.name]
        if key.kind in kept_description:  # compute cannot rewrite it: the Event says so
            assert who.manages(observed.marks), where
            assert "description still names this resource" in message, message
        else:  # released: still ours to adopt back, no longer managed
            assert who.owns(observed.marks), where
            assert not who.manages(observed.marks), where
            assert "marked as released" in message, message
    assert gcp.addresses.only().marks.labels == {"cost-center": "42"}
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {AGENT_MEMBER}  # the service keeps working
    assert [e.reason for e in outcome.events] == ["Abandoned"] * 10 + ["Released"]


async def test_a_project_never_allowed_needs_no_teardown(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.teardown(spec(projectId="someone-elses-project"))

    assert outcome.done
    assert gcp.calls() == []


async def test_attach_mode_teardown_revokes_access_and_keeps_the_backend_service(
    gcp: FakeGcp, harness: Harness
) -> None:
    shared_backend_service(gcp)
    await harness.reconcile(attach_spec())
    target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, gcp.backend_services.only().id)
    gcp.iam.add(target, ACCESSOR, CAROL)
    gcp.recorder.clear()

    outcome = await harness.teardown(attach_spec())

    assert outcome.done
    assert deletes(gcp) == []
    assert gcp.iam.members(target, ACCESSOR) == {CAROL}
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == set()
    assert len(gcp.backend_services.items) == 1


async def test_direct_mode_teardown_revokes_both_bindings(gcp: FakeGcp, harness: Harness) -> None:
    await harness.reconcile(direct_spec())
    cloud_run_iap = IamTarget(IamTargetKind.IAP_CLOUD_RUN, NUMBER, SERVICE, REGION)
    gcp.iam.add(cloud_run_iap, ACCESSOR, CAROL)

    outcome = await harness.teardown(direct_spec())

    assert outcome.done
    assert gcp.iam.members(cloud_run_iap, ACCESSOR) == {CAROL}
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == set()
    assert ALICE not in gcp.iam.members(cloud_run_iap, ACCESSOR)


async def test_a_certificate_for_an_earlier_domain_list_is_replaced_then_deleted(
    gcp: FakeGcp, harness: Harness
) -> None:
    await harness.ready(spec())
    first = gcp.ssl_certificates.only().spec.key
    harness.bump()
    await harness.reconcile(spec(loadBalancer={"domains": ["app.example.com", "www.example.com"]}))
    # The proxy moved to the new certificate, so the old one is an orphan and goes in the same pass.
    assert gcp.ssl_certificates.get(PROJECT, first) is None
    assert len(gcp.ssl_certificates.items) == 1
    assert harness.status is not None
    remembered = [r["name"] for r in harness.status["resources"]]
    assert first.name not in remembered
    assert len(remembered) == len(set(remembered)) == 10

    outcome = await harness.teardown(spec(loadBalancer={"domains": ["app.example.com", "www.example.com"]}))

    assert outcome.done, outcome.errors
    assert gcp.compute_items() == {}


async def test_a_deleted_cloud_run_service_takes_its_bindings_along(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())
    access_target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, gcp.backend_services.only().id)
    del gcp.cloud_run.services[(PROJECT, REGION, SERVICE)]  # its IAM policy now answers NOT_FOUND

    outcome = await harness.teardown(spec())

    assert outcome.done, outcome.errors
    assert gcp.compute_items() == {}
    assert [c.subject for c in gcp.writes() if c.port == "iam"] == [str(access_target)]
