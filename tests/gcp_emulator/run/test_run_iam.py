"""Cloud Run IAM policies: v2 (google-cloud-run) and v1 (the paths gcloud uses) share one policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import run_v2
from google.iam.v1 import policy_pb2
from googleapiclient.errors import HttpError
from tests.gcp_emulator.google_clients import discovery_client

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import HELLO, HELLO_PATH, REGION


@pytest.fixture
def run_v1(emulator: GcpEmulatorThread) -> Iterator[Any]:
    with discovery_client(emulator, "run", "v1") as client:
        yield client.projects().locations().services()


def test_seeded_policy_is_returned(services: run_v2.ServicesClient) -> None:
    policy = services.get_iam_policy(request={"resource": HELLO})
    assert [(b.role, list(b.members)) for b in policy.bindings] == [
        ("roles/run.invoker", ["user:ops@example.com"])
    ]
    assert policy.etag


def test_set_policy_changes_etag_and_is_visible_on_v1(
    services: run_v2.ServicesClient, run_v1: Any, emulator: GcpEmulatorThread
) -> None:
    policy = services.get_iam_policy(request={"resource": HELLO})
    policy.bindings.append(policy_pb2.Binding(role="roles/run.invoker", members=["allUsers"]))
    updated = services.set_iam_policy(request={"resource": HELLO, "policy": policy})
    assert updated.etag != policy.etag
    v1 = run_v1.getIamPolicy(resource=HELLO).execute()
    assert sorted(m for b in v1["bindings"] for m in b["members"]) == ["allUsers", "user:ops@example.com"]
    assert emulator.state()[f"{HELLO_PATH}:iamPolicy"]["etag"] == v1["etag"]


def test_v1_set_with_stale_etag_is_aborted(services: run_v2.ServicesClient, run_v1: Any) -> None:
    stale = run_v1.getIamPolicy(resource=HELLO).execute()
    services.set_iam_policy(request={"resource": HELLO, "policy": {"bindings": []}})
    with pytest.raises(HttpError) as caught:
        run_v1.setIamPolicy(resource=HELLO, body={"policy": stale}).execute()
    assert caught.value.status_code == 409
    assert b"ABORTED" in caught.value.content


def test_v2_set_with_stale_etag_is_a_conflict(services: run_v2.ServicesClient) -> None:
    stale = services.get_iam_policy(request={"resource": HELLO})
    services.set_iam_policy(request={"resource": HELLO, "policy": {"bindings": []}})
    with pytest.raises(exceptions.Conflict):
        services.set_iam_policy(request={"resource": HELLO, "policy": stale})


def test_policy_of_unknown_service_is_not_found(services: run_v2.ServicesClient, run_v1: Any) -> None:
    missing = f"projects/demo-project/locations/{REGION}/services/nope"
    with pytest.raises(exceptions.NotFound):
        services.get_iam_policy(request={"resource": missing})
    with pytest.raises(HttpError) as caught:
        run_v1.setIamPolicy(resource=missing, body={"policy": {}}).execute()
    assert caught.value.status_code == 404


def test_invalid_member_is_rejected(services: run_v2.ServicesClient) -> None:
    policy: dict[str, Any] = {"bindings": [{"role": "roles/run.invoker", "members": ["someone"]}]}
    with pytest.raises(exceptions.BadRequest):
        services.set_iam_policy(request={"resource": HELLO, "policy": policy})


def test_conditional_binding_needs_version_3(services: run_v2.ServicesClient) -> None:
    condition = {"title": "soon", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}
    binding = {"role": "roles/run.invoker", "members": ["user:a@example.com"], "condition": condition}
    stored = services.set_iam_policy(
        request={"resource": HELLO, "policy": {"version": 3, "bindings": [binding]}}
    )
    assert stored.version == 3
    read = services.get_iam_policy(request={"resource": HELLO, "options": {"requested_policy_version": 3}})
    assert read.bindings[0].condition.title == "soon"


def test_test_iam_permissions_answers_from_the_project(services: run_v2.ServicesClient) -> None:
    answer = services.test_iam_permissions(
        request={"resource": HELLO, "permissions": ["run.services.get", "run.services.update"]}
    )
    assert list(answer.permissions) == ["run.services.get", "run.services.update"]
