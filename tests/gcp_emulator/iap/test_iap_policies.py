"""IAP IAM policies on backend services (by id or name) and Cloud Run services."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import iap_v1
from google.iam.v1 import policy_pb2

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import REGION, WEB

ACCESSOR = "roles/iap.httpsResourceAccessor"
Client = iap_v1.IdentityAwareProxyAdminServiceClient


def grant(iap: Client, resource: str, member: str) -> policy_pb2.Policy:
    policy = iap.get_iam_policy(request={"resource": resource})
    policy.bindings.append(policy_pb2.Binding(role=ACCESSOR, members=[member]))
    return iap.set_iam_policy(request={"resource": resource, "policy": policy})


def members(policy: policy_pb2.Policy) -> list[str]:
    return sorted(m for b in policy.bindings for m in b.members)


def test_backend_service_by_name_and_by_id_share_a_policy(
    iap: Client, backends: dict[str, str], emulator: GcpEmulatorThread
) -> None:
    by_name = f"{WEB}/compute/services/bs-global"
    by_id = f"{WEB}/compute/services/{backends['bs-global']}"
    assert not iap.get_iam_policy(request={"resource": by_name}).bindings
    grant(iap, by_id, "group:staff@example.com")
    assert members(iap.get_iam_policy(request={"resource": by_name})) == ["group:staff@example.com"]
    # Stored once, under the backend service's id (a re-created service starts without bindings).
    assert [k for k in emulator.state(prefix="v1/projects/") if k.endswith(":iamPolicy")] == [
        f"v1/{by_id}:iamPolicy"
    ]


def test_regional_backend_service_policy(iap: Client, backends: dict[str, str]) -> None:
    resource = f"{WEB}/compute-{REGION}/services/{backends['bs-regional']}"
    assert members(grant(iap, resource, "user:a@example.com")) == ["user:a@example.com"]
    same = iap.get_iam_policy(request={"resource": f"{WEB}/compute-{REGION}/services/bs-regional"})
    assert members(same) == ["user:a@example.com"]
    # The global and the regional namespaces are distinct.
    with pytest.raises(exceptions.NotFound):
        iap.get_iam_policy(request={"resource": f"{WEB}/compute/services/bs-regional"})


def test_cloud_run_service_policy(iap: Client) -> None:
    resource = f"{WEB}/cloud_run-{REGION}/services/hello"
    policy = grant(iap, resource, "user:b@example.com")
    assert policy.etag
    assert members(iap.get_iam_policy(request={"resource": resource})) == ["user:b@example.com"]


@pytest.mark.parametrize(
    "resource",
    [
        f"{WEB}/compute/services/missing",
        f"{WEB}/compute/services/123",
        f"{WEB}/compute-{REGION}/services/missing",
        f"{WEB}/cloud_run-{REGION}/services/missing",
        f"{WEB}/cloud_run-europe-west1/services/hello",
    ],
)
def test_missing_services_are_not_found(iap: Client, backends: dict[str, str], resource: str) -> None:
    with pytest.raises(exceptions.NotFound):
        iap.get_iam_policy(request={"resource": resource})


def test_stale_etag_is_a_conflict(iap: Client, backends: dict[str, str]) -> None:
    resource = f"{WEB}/compute/services/bs-global"
    stale = iap.get_iam_policy(request={"resource": resource})
    grant(iap, resource, "user:first@example.com")
    stale.bindings.append(policy_pb2.Binding(role=ACCESSOR, members=["user:second@example.com"]))
    with pytest.raises(exceptions.Conflict) as caught:
        iap.set_iam_policy(request={"resource": resource, "policy": stale})
    assert caught.value.response.json()["error"]["status"] == "ABORTED"
    assert members(iap.get_iam_policy(request={"resource": resource})) == ["user:first@example.com"]


def test_project_level_web_policy_and_permissions(iap: Client) -> None:
    assert members(grant(iap, WEB, "domain:example.com")) == ["domain:example.com"]
    answer = iap.test_iam_permissions(
        request={
            "resource": f"{WEB}/cloud_run-{REGION}/services/hello",
            "permissions": ["iap.webServices.getIamPolicy"],
        }
    )
    assert list(answer.permissions) == ["iap.webServices.getIamPolicy"]


def test_unknown_project_and_bad_names(iap: Client) -> None:
    with pytest.raises(exceptions.Forbidden):
        iap.get_iam_policy(request={"resource": "projects/999/iap_web"})
    with pytest.raises(exceptions.BadRequest):
        iap.get_iam_policy(request={"resource": f"{WEB}/appengine-x/services/default/versions/v1/extra"})
