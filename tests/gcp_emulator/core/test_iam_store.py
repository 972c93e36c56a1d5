"""The shared IAM policy store: etags, stale writes, conditions and policy versions, member validation."""

from __future__ import annotations

import pytest

from iap_sandbox.emulators.gcp.core import GoogleError, Project, Store
from iap_sandbox.emulators.gcp.iam import IamPolicies

RESOURCE = "v2/projects/demo-project/locations/us-central1/services/hello"
INVOKER = {"role": "roles/run.invoker", "members": ["user:ops@example.com"]}
CONDITION = {"title": "until-2030", "expression": 'request.time < timestamp("2030-01-01T00:00:00Z")'}


@pytest.fixture
def iam() -> IamPolicies:
    return IamPolicies(Store())


def test_resource_without_policy(iam: IamPolicies) -> None:
    assert iam.get(RESOURCE) == {"etag": "ACAB"}  # recorded: no version, no bindings


def test_version_is_echoed_as_one_without_conditions(iam: IamPolicies) -> None:
    """Recorded: a set at version 3 without conditions answers version 1; emptied, it keeps version 1."""
    stored = iam.set(RESOURCE, {"bindings": [INVOKER], "etag": "ACAB", "version": 3})
    assert stored["version"] == 1
    emptied = iam.set(RESOURCE, {"etag": stored["etag"], "version": 3})
    assert set(emptied) == {"etag", "version"}
    assert emptied["version"] == 1


def test_every_write_changes_the_etag(iam: IamPolicies) -> None:
    first = iam.set(RESOURCE, {"bindings": [INVOKER], "etag": "ACAB"})
    assert first["etag"] != "ACAB"
    assert iam.get(RESOURCE) == first
    second = iam.set(RESOURCE, {"bindings": [INVOKER], "etag": first["etag"]})
    assert second["etag"] != first["etag"]


def test_stale_etag_is_aborted(iam: IamPolicies) -> None:
    first = iam.set(RESOURCE, {"bindings": [INVOKER]})
    iam.set(RESOURCE, {"bindings": [], "etag": first["etag"]})
    with pytest.raises(GoogleError) as caught:
        iam.set(RESOURCE, {"bindings": [INVOKER], "etag": first["etag"]})
    assert (caught.value.code, caught.value.status) == (409, "ABORTED")


def test_without_etag_overwrites(iam: IamPolicies) -> None:
    iam.set(RESOURCE, {"bindings": [INVOKER]})
    replaced = iam.set(
        RESOURCE, {"bindings": [{"role": "roles/run.admin", "members": ["group:admins@example.com"]}]}
    )
    assert [b["role"] for b in replaced["bindings"]] == ["roles/run.admin"]


def test_bindings_are_merged_and_deduplicated(iam: IamPolicies) -> None:
    policy = iam.set(
        RESOURCE,
        {
            "bindings": [
                INVOKER,
                {"role": "roles/run.invoker", "members": ["user:ops@example.com", "allUsers"]},
            ]
        },
    )
    assert policy["bindings"] == [
        {"role": "roles/run.invoker", "members": ["user:ops@example.com", "allUsers"]}
    ]


@pytest.mark.parametrize(
    "member",
    ["ops@example.com", "user:", "user:not-an-email", "robot:x@example.com", "serviceAccount:a b@x.com"],
)
def test_invalid_members(iam: IamPolicies, member: str) -> None:
    with pytest.raises(GoogleError) as caught:
        iam.set(RESOURCE, {"bindings": [{"role": "roles/run.invoker", "members": [member]}]})
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")


def test_invalid_role(iam: IamPolicies) -> None:
    with pytest.raises(GoogleError):
        iam.set(RESOURCE, {"bindings": [{"role": "run.invoker", "members": ["allUsers"]}]})


def test_conditions_need_version_3(iam: IamPolicies) -> None:
    conditional = {**INVOKER, "condition": CONDITION}
    with pytest.raises(GoogleError) as caught:
        iam.set(RESOURCE, {"bindings": [conditional]})
    assert caught.value.code == 400

    stored = iam.set(RESOURCE, {"version": 3, "bindings": [conditional]})
    assert stored["version"] == 3
    assert iam.get(RESOURCE, requested_version=3)["bindings"] == [conditional]

    legacy = iam.get(RESOURCE, requested_version=1)  # GCP renames conditional roles for old readers
    assert legacy["version"] == 1
    assert legacy["bindings"][0]["role"].startswith("roles/run.invoker_withcond_")
    assert "condition" not in legacy["bindings"][0]


def test_update_mask_keeps_audit_configs(iam: IamPolicies) -> None:
    audit = [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}]
    first = iam.set(
        RESOURCE, {"bindings": [INVOKER], "auditConfigs": audit}, update_mask="bindings,auditConfigs"
    )
    assert first["auditConfigs"] == audit
    second = iam.set(RESOURCE, {"bindings": [INVOKER]})  # default mask: bindings, etag
    assert second["auditConfigs"] == audit


def test_delete_and_test_permissions(iam: IamPolicies) -> None:
    iam.set(RESOURCE, {"bindings": [INVOKER]})
    iam.delete(RESOURCE)
    assert iam.get(RESOURCE)["etag"] == "ACAB"
    limited = Project("p", "1", frozenset({"run.services.get"}))
    assert IamPolicies.test_permissions(limited, ["run.services.get", "run.services.update"]) == [
        "run.services.get"
    ]
    unlimited = Project("p", "1")
    assert IamPolicies.test_permissions(unlimited, ["a.b.c", "a.b.c"]) == ["a.b.c"]


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers"])
def test_no_conditions_for_all_users(iam: IamPolicies, member: str) -> None:
    """Google's IAM Conditions overview: conditions cannot be used with allUsers/allAuthenticatedUsers."""
    with pytest.raises(GoogleError) as caught:
        iam.set(
            RESOURCE, {"version": 3, "bindings": [{**INVOKER, "members": [member], "condition": CONDITION}]}
        )
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    plain = iam.set(RESOURCE, {"bindings": [{**INVOKER, "members": [member]}]})
    assert plain["bindings"] == [{**INVOKER, "members": [member]}]
