"""Resource Manager project numbers and Service Usage service agents."""

from __future__ import annotations

import pytest
from tests.demo_project import NUMBER

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.ports import Cloud
from iap_sandbox.emulators.gcp.operations import Operation
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import PROJECT, CallLog, requests_to

IAP_AGENT = f"service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"


async def test_project_number_is_read_once(cloud: Cloud, emulator: EmulatorHandle) -> None:
    assert await cloud.projects.project_number(PROJECT) == NUMBER
    assert await cloud.projects.project_number(PROJECT) == NUMBER
    assert len(requests_to(emulator, "GET", f"/v3/projects/{PROJECT}")) == 1


async def test_unknown_project_is_permission_denied(cloud: Cloud) -> None:
    with pytest.raises(CloudError) as caught:
        await cloud.projects.project_number("no-such-project")
    assert caught.value.fault is Fault.PERMISSION_DENIED


async def test_service_identity(cloud: Cloud, emulator: EmulatorHandle, call_log: CallLog) -> None:
    email = await cloud.identities.ensure_service_identity(NUMBER, "iap.googleapis.com")

    assert email == IAP_AGENT
    assert await cloud.identities.ensure_service_identity(NUMBER, "iap.googleapis.com") == IAP_AGENT
    calls = requests_to(emulator, "POST", "/services/iap.googleapis.com:generateServiceIdentity")
    assert [r["path"] for r in calls] == [
        f"/v1beta1/projects/{NUMBER}/services/iap.googleapis.com:generateServiceIdentity"
    ] * 2
    assert ("serviceusage", "services.generateServiceIdentity", "200") in call_log.calls


async def test_service_identity_answered_done_is_not_polled(cloud: Cloud, emulator: EmulatorHandle) -> None:
    """Recorded (serviceidentity): generateServiceIdentity answers an operation that is already done."""
    assert await cloud.identities.ensure_service_identity(NUMBER, "iap.googleapis.com") == IAP_AGENT
    assert not [r for r in emulator.requests() if r["path"].startswith("/v1beta1/operations/")]


async def test_service_identity_still_running_is_polled(cloud: Cloud, emulator: EmulatorHandle) -> None:
    """Should GCP ever answer it running (it is a long-running operation), the adapter polls."""
    name = "operations/acat.p2-123456789012-still-running"

    def finish(op: Operation) -> None:
        identity = "type.googleapis.com/google.api.serviceusage.v1beta1.ServiceIdentity"
        op.body.update(done=True, response={"@type": identity, "email": IAP_AGENT, "uniqueId": "1"})

    emulator.world.operations.start(name, {"name": name}, 0.2, finish)
    emulator.add_fault(method="POST", path=r":generateServiceIdentity$", status=200, body={"name": name})

    assert await cloud.identities.ensure_service_identity(NUMBER, "iap.googleapis.com") == IAP_AGENT
    polls = [r for r in emulator.requests() if r["path"] == f"/v1beta1/{name}"]
    assert polls
    assert all(r["method"] == "GET" for r in polls)


async def test_service_identity_throttled(cloud: Cloud, emulator: EmulatorHandle) -> None:
    # A Retry-After beyond the per-call deadline: not waited out in the call, handed to the pass.
    emulator.add_fault(method="POST", path=r":generateServiceIdentity$", status=429, retry_after=70)

    with pytest.raises(CloudError) as caught:
        await cloud.identities.ensure_service_identity(NUMBER, "iap.googleapis.com")

    assert caught.value.fault is Fault.TRANSIENT
    assert caught.value.retry_after == 70.0
