"""Preflight: nothing is written while the project, the Cloud Run service or the OAuth Secret is not there."""

from __future__ import annotations

from iap_operator.engine.conditions import Reason, Type
from iap_operator.engine.identity import Identity

from .fakes import FakeGcp
from .scenario import NAMESPACE, PROJECT, SERVICE, Harness, condition, reasons, settings, spec, world

OAUTH = {"secretRef": {"name": "iap-oauth", "clientSecretKey": "secret"}}


async def test_a_missing_cloud_run_service_waits_without_writing() -> None:
    gcp = world(service=False)
    harness = Harness(gcp)

    outcome = await harness.reconcile(spec())

    assert gcp.writes() == []
    assert [c.port for c in gcp.calls()] == ["projects", "cloud_run"]
    assert outcome.poll_after == harness.settings.missing_retry
    assert outcome.error is None
    assert not outcome.stalled
    state = reasons(outcome)
    assert state["Ready"] == (False, Reason.NOT_FOUND)
    assert state["Reconciling"] == (True, Reason.NOT_FOUND)
    assert state["Stalled"][0] is False
    ready = next(c for c in outcome.conditions if c.type == "Ready")
    assert SERVICE in ready.message
    assert PROJECT in ready.message
    assert [e.reason for e in outcome.events] == ["NotFound"]


async def test_a_missing_secret_waits_without_any_cloud_call(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.reconcile(spec(oauthClient=OAUTH))

    assert [c.port for c in gcp.calls()] == ["secrets"]
    assert outcome.poll_after == harness.settings.missing_retry
    assert reasons(outcome)["Ready"] == (False, Reason.NOT_FOUND)
    ready = next(c for c in outcome.conditions if c.type == "Ready")
    assert f"{NAMESPACE}/iap-oauth" in ready.message


async def test_a_missing_secret_key_waits_and_names_the_key(gcp: FakeGcp, harness: Harness) -> None:
    gcp.secrets.put(NAMESPACE, "iap-oauth", client_id="id.apps.example.com", client_secret="wrong-key")

    outcome = await harness.reconcile(spec(oauthClient=OAUTH))

    assert gcp.writes() == []
    assert [c.port for c in gcp.calls()] == ["secrets"]
    assert outcome.poll_after == harness.settings.missing_retry
    assert reasons(outcome)["Ready"] == (False, Reason.NOT_FOUND)
    ready = next(c for c in outcome.conditions if c.type == "Ready")
    assert "secret" in ready.message
    assert "wrong-key" not in ready.message  # values are never quoted


async def test_an_empty_secret_value_counts_as_missing(gcp: FakeGcp, harness: Harness) -> None:
    gcp.secrets.put(NAMESPACE, "iap-oauth", client_id="", secret="value")

    outcome = await harness.reconcile(spec(oauthClient=OAUTH))

    assert gcp.writes() == []
    assert "client_id" in next(c.message for c in outcome.conditions if c.type == "Ready")


async def test_a_project_the_namespace_may_not_use_is_refused_without_calls(
    gcp: FakeGcp, harness: Harness
) -> None:
    outcome = await harness.reconcile(spec(projectId="someone-elses-project"))

    assert gcp.calls() == []
    assert outcome.stalled
    assert outcome.poll_after is None
    state = reasons(outcome)
    assert state["Ready"] == (False, Reason.PERMISSION_DENIED)
    assert state["Stalled"] == (True, Reason.PERMISSION_DENIED)
    assert state["Reconciling"][0] is False


async def test_no_project_at_all_is_an_invalid_spec_without_calls(gcp: FakeGcp) -> None:
    harness = Harness(gcp, config=settings(default_project=None))

    outcome = await harness.reconcile(spec(projectId=None))

    assert gcp.calls() == []
    assert outcome.stalled
    assert reasons(outcome)["Ready"] == (False, Reason.INVALID_SPEC)
    assert reasons(outcome)["Stalled"] == (True, Reason.INVALID_SPEC)


async def test_a_namespace_without_a_rule_may_use_only_the_default_project(gcp: FakeGcp) -> None:
    other = Identity("team-b", "web", "uid-team-b")

    allowed = await Harness(gcp, who=other).reconcile(spec(projectId=None))
    assert allowed.error is None
    assert not allowed.stalled

    gcp.recorder.clear()
    refused = await Harness(gcp, who=other).reconcile(spec(projectId="team-a-project"))
    assert refused.stalled
    assert gcp.calls() == []


async def test_a_project_gcp_does_not_show_us_is_permission_denied(gcp: FakeGcp) -> None:
    gcp.projects.numbers.clear()

    outcome = await Harness(gcp).reconcile(spec())

    assert gcp.writes() == []
    assert outcome.stalled
    assert reasons(outcome)["Ready"] == (False, Reason.PERMISSION_DENIED)


async def test_a_client_id_that_is_no_oauth_client_id_is_refused_without_writes(
    gcp: FakeGcp, harness: Harness
) -> None:
    gcp.secrets.put(NAMESPACE, "iap-oauth", client_id="not an id; drop table", secret="s3cret")

    outcome = await harness.reconcile(spec(oauthClient=OAUTH))

    assert gcp.writes() == []
    assert reasons(outcome)["Ready"] == (False, Reason.INVALID_SPEC)
    ready = next(c for c in outcome.conditions if c.type == "Ready")
    assert "OAuth client ID" in ready.message
    assert "drop table" not in ready.message
    assert "s3cret" not in ready.message


async def test_a_shared_ref_is_refused_with_what_to_do_and_no_calls(gcp: FakeGcp) -> None:
    """The attach topology is not in the engine yet (docs/shared-balancer.md): say so, touch nothing."""
    harness = Harness(gcp)

    shared = {"sharedRef": {"name": "tools", "namespace": "platform"}, "host": "wiki.example.com"}
    outcome = await harness.reconcile(spec(loadBalancer=shared))

    assert gcp.calls() == []
    assert outcome.stalled
    assert reasons(outcome)["Ready"] == (False, Reason.INVALID_SPEC)
    assert "sharedRef" in condition(outcome, Type.READY).message
