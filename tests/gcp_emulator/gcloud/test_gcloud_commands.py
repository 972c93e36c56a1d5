"""The gcloud commands of Google's "Enable IAP for Cloud Run" page, unchanged, against the emulator."""

from __future__ import annotations

import pytest
from tests.demo_project import NUMBER

from .conftest import PROJECT, Gcloud

pytestmark = pytest.mark.gcloud

BACKEND = f"compute/v1/projects/{PROJECT}/global/backendServices/bs-hello"
IAP_AGENT = f"service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"


def test_backend_service_describe_and_enable_iap(gcloud: Gcloud) -> None:
    described = gcloud.json("compute", "backend-services", "describe", "bs-hello", "--global")
    assert described["name"] == "bs-hello"
    assert not described.get("iap", {}).get("enabled")
    before = described["fingerprint"]

    gcloud.ok("compute", "backend-services", "update", "bs-hello", "--global", "--iap=enabled")

    stored = gcloud.emulator.state()[BACKEND]
    assert stored["iap"]["enabled"] is True
    assert stored["fingerprint"] != before


def test_run_services_add_iam_policy_binding(gcloud: Gcloud) -> None:
    gcloud.ok(
        "run",
        "services",
        "add-iam-policy-binding",
        "hello",
        "--region=us-central1",
        f"--member=serviceAccount:{IAP_AGENT}",
        "--role=roles/run.invoker",
    )
    policy = gcloud.emulator.state()[f"v2/projects/{PROJECT}/locations/us-central1/services/hello:iamPolicy"]
    assert {"role": "roles/run.invoker", "members": [f"serviceAccount:{IAP_AGENT}"]} in policy["bindings"]


def test_iap_web_add_iam_policy_binding_on_a_backend_service(gcloud: Gcloud) -> None:
    gcloud.ok(
        "iap",
        "web",
        "add-iam-policy-binding",
        "--resource-type=backend-services",
        "--service=bs-hello",
        "--member=user:alice@example.com",
        "--role=roles/iap.httpsResourceAccessor",
    )
    state = gcloud.emulator.state()
    backend_id = state[BACKEND]["id"]
    policy = state[f"v1/projects/{NUMBER}/iap_web/compute/services/{backend_id}:iamPolicy"]
    assert policy["bindings"] == [
        {"role": "roles/iap.httpsResourceAccessor", "members": ["user:alice@example.com"]}
    ]


def test_iap_settings_get(gcloud: Gcloud) -> None:
    project = gcloud.json("iap", "settings", "get", f"--project={PROJECT}")
    assert project == {"name": f"projects/{NUMBER}"}  # recorded: named by the project number
    backend = gcloud.json(
        "iap",
        "settings",
        "get",
        f"--project={PROJECT}",
        "--resource-type=backend-services",
        "--service=bs-hello",
    )
    assert backend == {"name": f"projects/{NUMBER}/iap_web/compute/services/bs-hello"}


def test_beta_services_identity_create(gcloud: Gcloud) -> None:
    result = gcloud.ok(
        "beta", "services", "identity", "create", "--service=iap.googleapis.com", f"--project={PROJECT}"
    )
    assert f"Service identity created: {IAP_AGENT}" in result.stderr
    assert (
        gcloud.emulator.state(prefix="v1beta1/")[
            f"v1beta1/projects/{NUMBER}/services/iap.googleapis.com:serviceIdentity"
        ]["email"]
        == IAP_AGENT
    )
