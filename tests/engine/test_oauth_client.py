"""A custom OAuth client: sent to the backend service, compared by sha256, never shown anywhere."""

from __future__ import annotations

import hashlib
from typing import Any

from iap_operator.engine.conditions import Reason
from iap_operator.engine.resources import BackendService, IapSettings, Key, Kind

from .fakes import FakeGcp
from .scenario import NAMESPACE, PROJECT, Harness, attach_spec, everything_reported, key, reasons, spec

CLIENT_ID = "1234-abcd.apps.googleusercontent.com"
SECRET = "GOCSPX-s3cr3t-value-0001"
NEW_SECRET = "GOCSPX-s3cr3t-value-0002"
OAUTH: dict[str, Any] = {"secretRef": {"name": "iap-oauth"}}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def with_secret(gcp: FakeGcp, secret: str = SECRET) -> None:
    gcp.secrets.put(NAMESPACE, "iap-oauth", client_id=CLIENT_ID, client_secret=secret)


async def test_the_backend_service_gets_the_client_id_and_secret(gcp: FakeGcp, harness: Harness) -> None:
    with_secret(gcp)

    outcome = await harness.reconcile(spec(oauthClient=OAUTH))

    sent = gcp.backend_services.sent[-1]
    assert sent.iap.client_id == CLIENT_ID
    assert sent.iap.client_secret == SECRET
    stored = gcp.backend_services.only().spec.iap
    assert stored == IapSettings(enabled=True, client_id=CLIENT_ID, client_secret_sha256=sha256(SECRET))
    assert stored.client_secret is None  # GCP never gives it back
    assert reasons(outcome)["IapEnabled"] == (True, Reason.UP_TO_DATE)
    assert "custom OAuth client" in next(c.message for c in outcome.conditions if c.type == "IapEnabled")
    assert SECRET not in everything_reported(outcome)


async def test_the_secret_never_shows_in_reprs() -> None:
    settings = IapSettings(enabled=True, client_id=CLIENT_ID, client_secret_sha256="x", client_secret=SECRET)
    assert SECRET not in repr(settings)
    assert SECRET not in repr(BackendService(key(Kind.BACKEND_SERVICE, "bs"), iap=settings))


async def test_an_up_to_date_custom_client_writes_nothing(gcp: FakeGcp, harness: Harness) -> None:
    with_secret(gcp)
    await harness.ready(spec(oauthClient=OAUTH))

    outcome = await harness.reconcile(spec(oauthClient=OAUTH))

    assert gcp.writes() == []
    assert outcome.ready


async def test_a_new_secret_updates_the_backend_service(gcp: FakeGcp, harness: Harness) -> None:
    with_secret(gcp)
    await harness.ready(spec(oauthClient=OAUTH))
    with_secret(gcp, NEW_SECRET)

    outcome = await harness.reconcile(spec(oauthClient=OAUTH))

    assert [(c.port, c.method) for c in gcp.writes()] == [("backend_services", "update")]
    assert gcp.backend_services.sent[-1].iap.client_secret == NEW_SECRET
    assert gcp.backend_services.only().spec.iap.client_secret_sha256 == sha256(NEW_SECRET)
    report = everything_reported(outcome)
    assert SECRET not in report
    assert NEW_SECRET not in report
    assert outcome.ready


async def test_going_back_to_the_google_managed_client_is_refused(gcp: FakeGcp, harness: Harness) -> None:
    with_secret(gcp)
    await harness.ready(spec(oauthClient=OAUTH))
    harness.bump()

    outcome = await harness.reconcile(spec())

    assert gcp.writes() == []
    assert outcome.stalled
    assert outcome.error is None
    assert reasons(outcome)["Ready"] == (False, Reason.OAUTH_CLIENT_CHANGE_REFUSED)
    assert reasons(outcome)["Stalled"] == (True, Reason.OAUTH_CLIENT_CHANGE_REFUSED)
    assert reasons(outcome)["IapEnabled"] == (False, Reason.OAUTH_CLIENT_CHANGE_REFUSED)
    assert gcp.backend_services.only().spec.iap.client_id == CLIENT_ID
    assert SECRET not in everything_reported(outcome)


async def test_attach_mode_refuses_going_back_too(gcp: FakeGcp, harness: Harness) -> None:
    shared = BackendService(
        Key(Kind.BACKEND_SERVICE, "shared-bs"),
        iap=IapSettings(enabled=True, client_id=CLIENT_ID, client_secret_sha256=sha256(SECRET)),
    )
    gcp.backend_services.put(PROJECT, shared)

    outcome = await harness.reconcile(attach_spec())

    assert [c for c in gcp.writes() if c.port == "backend_services"] == []
    assert outcome.stalled
    assert reasons(outcome)["Ready"] == (False, Reason.OAUTH_CLIENT_CHANGE_REFUSED)
