"""Service Usage: generateServiceIdentity (long-running, idempotent), operations, service states."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import Forbidden
from google.auth.credentials import AnonymousCredentials
from google.cloud import iap_v1, run_v2
from googleapiclient.errors import HttpError

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

IAP_AGENT = "service-123456789012@gcp-sa-iap.iam.gserviceaccount.com"
IDENTITY_TYPE = "type.googleapis.com/google.api.serviceusage.v1beta1.ServiceIdentity"


def generate(usage_beta: Any, project: str = "demo-project", service: str = "iap.googleapis.com") -> Any:
    parent = f"projects/{project}/services/{service}"
    return usage_beta.services().generateServiceIdentity(parent=parent).execute()


def test_generate_identity_answers_a_done_operation(usage_beta: Any, emulator: GcpEmulatorThread) -> None:
    operation = generate(usage_beta)
    assert operation["done"] is True
    assert operation["response"] == {
        "@type": IDENTITY_TYPE,
        "email": IAP_AGENT,
        "uniqueId": operation["response"]["uniqueId"],
    }
    assert operation["response"]["uniqueId"].isdigit()
    assert usage_beta.operations().get(name=operation["name"]).execute() == operation
    stored = emulator.state(prefix="v1beta1/")
    assert stored == {
        "v1beta1/projects/123456789012/services/iap.googleapis.com:serviceIdentity": {
            "email": IAP_AGENT,
            "uniqueId": operation["response"]["uniqueId"],
        }
    }


def test_generate_identity_is_idempotent_and_takes_a_project_number(usage_beta: Any) -> None:
    first = generate(usage_beta)["response"]
    again = generate(usage_beta, project="123456789012")["response"]
    assert first == again


def test_agent_emails_follow_the_service(usage_beta: Any) -> None:
    assert generate(usage_beta, service="run.googleapis.com")["response"]["email"] == (
        "service-123456789012@serverless-robot-prod.iam.gserviceaccount.com"
    )


@pytest.mark.parametrize("latency", [{("serviceusage", "*", "*"): 0.2}])
def test_identity_is_answered_done_after_the_latency(usage_beta: Any, emulator: GcpEmulatorThread) -> None:
    """Recorded (serviceidentity): the operation is already done, without metadata, in the first answer."""
    started = time.monotonic()
    operation = generate(usage_beta)
    assert time.monotonic() - started >= 0.2  # the work is done before answering
    assert set(operation) == {"name", "done", "response"}
    assert operation["done"] is True
    assert operation["response"]["email"] == IAP_AGENT
    assert usage_beta.operations().get(name=operation["name"]).execute() == operation


def test_unknown_operation_and_project(usage_beta: Any) -> None:
    with pytest.raises(HttpError) as missing:
        usage_beta.operations().get(name="operations/acat.p2-1-nope").execute()
    assert missing.value.status_code == 404
    with pytest.raises(HttpError) as denied:
        generate(usage_beta, project="someone-else")
    assert denied.value.status_code == 403


def test_service_states(usage: Any, emulator: GcpEmulatorThread) -> None:
    enabled = usage.services().get(name="projects/demo-project/services/iap.googleapis.com").execute()
    assert enabled["state"] == "ENABLED"
    assert enabled["name"] == "projects/123456789012/services/iap.googleapis.com"
    disabled = usage.services().get(name="projects/locked-project/services/iap.googleapis.com").execute()
    assert disabled["state"] == "DISABLED"
    emulator.mutate("v1/projects/210987654321/services/iap.googleapis.com", {"state": "ENABLED"})
    assert usage.services().get(name="projects/210987654321/services/iap.googleapis.com").execute()[
        "state"
    ] == ("ENABLED")


def test_disabled_apis_answer_service_disabled(emulator: GcpEmulatorThread) -> None:
    options = ClientOptions(api_endpoint=emulator.url)
    run = run_v2.ServicesClient(transport="rest", client_options=options, credentials=AnonymousCredentials())
    with pytest.raises(Forbidden) as caught:
        run.get_service(name="projects/locked-project/locations/us-central1/services/hello")
    error = caught.value.response.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["details"][0]["reason"] == "SERVICE_DISABLED"
    assert error["details"][0]["metadata"]["service"] == "run.googleapis.com"
    iap = iap_v1.IdentityAwareProxyAdminServiceClient(
        transport="rest", client_options=options, credentials=AnonymousCredentials()
    )
    with pytest.raises(Forbidden, match="Identity-Aware Proxy API has not been used"):
        iap.get_iap_settings(request={"name": "projects/210987654321/iap_web"})
