"""The pydantic model as the operator uses it: construction by name, defaults, durations, status output."""

from __future__ import annotations

import datetime
from typing import Any

import pydantic
import pytest

from iap_operator import api
from iap_operator.api.durations import parse_duration
from iap_sandbox.emulators.kube.admission import admit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m", 60),
        ("90s", 90),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("2h45m30s", 9930),
        ("1500ms", 1.5),
        ("60000000us", 60),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "1d", "-1m", "1m ", "m", "1.m", "1h-30m"])
def test_not_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_spec_built_in_python_by_field_name() -> None:
    spec = api.IapProtectedServiceSpec(
        cloud_run=api.CloudRunRef(service="hello", region="us-central1"),
        load_balancer=api.LoadBalancerSpec(domains=["hello.example.com"]),
        resync_period="2m",
    )
    assert spec.mode is api.Mode.LOAD_BALANCER
    assert spec.invoker is api.Invoker.IAP_SERVICE_AGENT
    assert spec.deletion_policy is api.DeletionPolicy.DELETE
    assert spec.access.members == ()
    assert spec.resync_seconds == 120
    assert spec.load_balancer is not None
    assert spec.load_balancer.https_redirect is True
    assert spec.load_balancer.load_balancing_scheme is api.LoadBalancingScheme.EXTERNAL
    with pytest.raises(pydantic.ValidationError):
        spec.mode = api.Mode.DIRECT  # type: ignore[misc]  # frozen


def test_parse_spec_is_strict_about_types() -> None:
    base: dict[str, Any] = {"mode": "Direct", "cloudRun": {"service": "hello", "region": "us-central1"}}
    api.parse_spec(base)
    for bad in (
        {"resyncPeriod": 600},
        {"access": {"members": "user:a@example.com"}},
        {"projectId": 12345678},
    ):
        with pytest.raises(pydantic.ValidationError):
            api.parse_spec(base | bad)


def test_status_serializes_to_what_the_crd_accepts(crd: dict[str, Any]) -> None:
    now = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    status = api.IapProtectedServiceStatus(
        observed_generation=2,
        conditions=(
            api.Condition(
                type="Ready", status=api.ConditionStatus.TRUE, reason="UpToDate", last_transition_time=now
            ),
        ),
        url="https://hello.example.com",
        backend_service=api.BackendServiceStatus(name="bs", id="123"),
        resources=(api.ResourceStatus(kind="BackendService", name="bs", created=True),),
        grants=api.GrantsStatus(
            access=("user:a@example.com",),
            access_condition=api.GrantedCondition(title="t", expression="true"),
        ),
        last_sync_time=now,
    )
    body = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert body["conditions"][0] == {
        "type": "Ready",
        "status": "True",
        "reason": "UpToDate",
        "lastTransitionTime": "2025-01-02T03:04:05Z",
    }
    assert body["grants"]["accessCondition"] == {"title": "t", "expression": "true"}
    obj = {
        "apiVersion": "iap-operator.dev/v1alpha1",
        "kind": "IapProtectedService",
        "metadata": {"name": "hello"},
        "spec": {"mode": "Direct", "cloudRun": {"service": "hello", "region": "us-central1"}},
        "status": body,
    }
    assert admit(crd, obj, None)["status"] == body  # nothing pruned, nothing refused
    assert api.IapProtectedServiceStatus.model_validate(body) == status


def test_status_reading_ignores_unknown_fields() -> None:
    status = api.IapProtectedServiceStatus.model_validate({"url": "https://x.example.com", "somethingNew": 1})
    assert status.url == "https://x.example.com"
