"""List filters and paging; Google-format errors for names, duplicates, projects and bodies."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1
from tests.demo_project import NUMBER

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import PROJECT, SELF, Compute, reason_of


def _names(compute: Compute, expression: str) -> list[str]:
    request = compute_v1.ListGlobalAddressesRequest(project=PROJECT, filter=expression)
    return [a.name for a in compute.addresses.list(request=request)]


@pytest.fixture
def addresses(compute: Compute) -> Compute:
    compute.address(name="ip-a", labels={"owner": "abc", "env": "dev"}, description="first")
    compute.address(name="ip-b", labels={"owner": "xyz"}, description="second")
    compute.address(name="ip-c", description="third one")
    return compute


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('name = "ip-a"', ["ip-a"]),
        ("name = ip-b", ["ip-b"]),
        ("name eq ip-.*", ["ip-a", "ip-b", "ip-c"]),
        ("name eq 'ip-(a|c)'", ["ip-a", "ip-c"]),
        ("name ne ip-a", ["ip-b", "ip-c"]),
        ("name != ip-a", ["ip-b", "ip-c"]),
        ('description = "third one"', ["ip-c"]),
        ('labels.owner = "abc"', ["ip-a"]),
        ("labels.owner eq xyz", ["ip-b"]),
        ("labels.owner:*", ["ip-a", "ip-b"]),
        ('(labels.owner = "abc") (labels.env = "dev")', ["ip-a"]),
        ('(labels.owner = "abc") (name = "ip-b")', []),
        ('(name = "ip-a") AND (description = "first")', ["ip-a"]),
        ('(name = "ip-a") OR (name = "ip-c")', ["ip-a", "ip-c"]),
        ("name = ip-*", ["ip-a", "ip-b", "ip-c"]),
        ("", ["ip-a", "ip-b", "ip-c"]),
    ],
)
def test_filters(addresses: Compute, expression: str, expected: list[str]) -> None:
    assert _names(addresses, expression) == expected


def test_bad_filter_is_invalid(addresses: Compute) -> None:
    with pytest.raises(exceptions.BadRequest):
        _names(addresses, "name = (")


def test_paging_follows_next_page_token(addresses: Compute, emulator: GcpEmulatorThread) -> None:
    request = compute_v1.ListGlobalAddressesRequest(project=PROJECT, max_results=2)
    pager = addresses.addresses.list(request=request)
    assert [a.name for a in pager] == ["ip-a", "ip-b", "ip-c"]
    lists = [
        r for r in emulator.requests() if r["method"] == "GET" and r["path"].endswith("/global/addresses")
    ]
    assert len(lists) == 2
    assert "pageToken" in lists[1]["query"]

    first = requests.get(
        f"{emulator.url}/compute/v1/projects/{PROJECT}/global/addresses", params={"maxResults": 2}, timeout=10
    ).json()
    assert [i["name"] for i in first["items"]] == ["ip-a", "ip-b"]
    assert first["kind"] == "compute#addressList"
    assert first["selfLink"] == f"{SELF}/global/addresses"
    assert first["id"] == f"projects/{PROJECT}/global/addresses"
    second = requests.get(
        f"{emulator.url}/compute/v1/projects/{PROJECT}/global/addresses",
        params={"maxResults": 2, "pageToken": first["nextPageToken"]},
        timeout=10,
    ).json()
    assert [i["name"] for i in second["items"]] == ["ip-c"]
    assert "nextPageToken" not in second


def test_order_by_creation_desc(addresses: Compute) -> None:
    request = compute_v1.ListGlobalAddressesRequest(project=PROJECT, order_by="creationTimestamp desc")
    listed = list(addresses.addresses.list(request=request))
    assert sorted(a.name for a in listed) == ["ip-a", "ip-b", "ip-c"]
    stamps = [a.creation_timestamp for a in listed]
    assert stamps == sorted(stamps, reverse=True)
    with pytest.raises(exceptions.BadRequest):
        list(
            addresses.addresses.list(
                request=compute_v1.ListGlobalAddressesRequest(project=PROJECT, order_by="id")
            )
        )


@pytest.mark.parametrize("name", ["Upper", "1leading-digit", "trailing-", "under_score", "x" * 64, ""])
def test_bad_names_are_invalid(compute: Compute, name: str) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.addresses.insert_unary(project=PROJECT, address_resource=compute_v1.Address(name=name))
    assert reason_of(caught.value) == "invalid"
    assert "resource.name" in str(caught.value)


def test_longest_valid_name(compute: Compute) -> None:
    name = "a" + "b" * 61 + "c"
    assert compute.address(name=name).name == name


def test_already_exists(compute: Compute) -> None:
    compute.address()
    with pytest.raises(exceptions.Conflict) as caught:
        compute.addresses.insert_unary(project=PROJECT, address_resource=compute_v1.Address(name="ip-hello"))
    assert reason_of(caught.value) == "alreadyExists"
    assert "The resource 'projects/demo-project/global/addresses/ip-hello' already exists" in str(
        caught.value
    )


def test_project_by_number_and_unknown_project(compute: Compute) -> None:
    compute.address()
    by_number = compute.addresses.get(project=NUMBER, address="ip-hello")
    assert by_number.self_link == f"{SELF}/global/addresses/ip-hello"  # selfLinks name the project id
    with pytest.raises(exceptions.NotFound) as caught:
        compute.addresses.list(project="no-such-project")
    assert "The resource 'projects/no-such-project' was not found" in str(caught.value)


def test_error_body_shape(emulator: GcpEmulatorThread) -> None:
    base = f"{emulator.url}/compute/v1/projects/{PROJECT}/global"
    missing = requests.get(f"{base}/backendServices/nope", timeout=10)
    assert missing.status_code == 404
    message = "The resource 'projects/demo-project/global/backendServices/nope' was not found"
    assert missing.json() == {  # recorded: compute's envelope has `errors[]` and no `status`
        "error": {
            "code": 404,
            "errors": [{"domain": "global", "message": message, "reason": "notFound"}],
            "message": message,
        }
    }
    bad_json = requests.post(f"{base}/addresses", data=b"{not json", timeout=10)
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["errors"][0]["reason"] == "parseError"


def test_unknown_query_parameters_are_ignored(emulator: GcpEmulatorThread, compute: Compute) -> None:
    compute.address()
    response = requests.get(
        f"{emulator.url}/compute/v1/projects/{PROJECT}/global/addresses/ip-hello",
        params={"$alt": "json;enum-encoding=int", "alt": "json", "prettyPrint": "false"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["name"] == "ip-hello"
