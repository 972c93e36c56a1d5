"""IAP settings (get/patch with update masks) and the shut-down IAP OAuth Admin API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import iap_v1
from google.protobuf import field_mask_pb2
from googleapiclient.errors import HttpError
from tests.gcp_emulator.google_clients import discovery_client

from iap_sandbox.emulators.gcp.testing import GcpEmulatorThread

from .conftest import NUMBER, REGION, WEB

Client = iap_v1.IdentityAwareProxyAdminServiceClient
RUN = f"{WEB}/cloud_run-{REGION}/services/hello"


def reauth(max_age: str = "300s") -> iap_v1.AccessSettings:
    return iap_v1.AccessSettings(
        reauth_settings=iap_v1.ReauthSettings(method=iap_v1.ReauthSettings.Method.SECURE_KEY, max_age=max_age)
    )


def test_settings_never_set_carry_only_the_name(iap: Client) -> None:
    settings = iap.get_iap_settings(request={"name": RUN})
    assert settings == iap_v1.IapSettings(name=RUN)


def test_patch_with_mask_updates_only_masked_fields(iap: Client, emulator: GcpEmulatorThread) -> None:
    first = iap_v1.IapSettings(
        name=RUN,
        access_settings=reauth(),
        application_settings=iap_v1.ApplicationSettings(cookie_domain="example.com"),
    )
    iap.update_iap_settings(request={"iap_settings": first})
    change = iap_v1.IapSettings(name=RUN, access_settings=reauth("600s"))
    mask = field_mask_pb2.FieldMask(paths=["access_settings.reauth_settings"])
    updated = iap.update_iap_settings(request={"iap_settings": change, "update_mask": mask})
    assert updated.access_settings.reauth_settings.max_age.seconds == 600
    assert updated.access_settings.reauth_settings.method == iap_v1.ReauthSettings.Method.SECURE_KEY
    assert updated.application_settings.cookie_domain == "example.com"
    assert iap.get_iap_settings(request={"name": RUN}) == updated
    stored = emulator.state()[f"v1/{RUN}:iapSettings"]
    assert stored["accessSettings"]["reauthSettings"] == {"method": "SECURE_KEY", "maxAge": "600s"}


def test_patch_without_mask_replaces_everything(iap: Client) -> None:
    iap.update_iap_settings(request={"iap_settings": iap_v1.IapSettings(name=RUN, access_settings=reauth())})
    cookie = iap_v1.ApplicationSettings(cookie_domain="example.org")
    replaced = iap.update_iap_settings(
        request={"iap_settings": iap_v1.IapSettings(name=RUN, application_settings=cookie)}
    )
    assert not replaced.access_settings
    assert replaced.application_settings.cookie_domain == "example.org"


def test_project_settings_accept_the_project_id(iap: Client) -> None:
    # recorded (projectiapsettings): asked by id, answered by number
    assert iap.get_iap_settings(request={"name": "projects/demo-project"}).name == f"projects/{NUMBER}"
    updated = iap.update_iap_settings(
        request={"iap_settings": iap_v1.IapSettings(name=f"projects/{NUMBER}", access_settings=reauth())}
    )
    assert updated.name == f"projects/{NUMBER}"
    by_id = iap.get_iap_settings(request={"name": "projects/demo-project"})
    assert by_id.access_settings == updated.access_settings


def test_settings_of_missing_service_are_not_found(iap: Client) -> None:
    with pytest.raises(exceptions.NotFound):
        iap.get_iap_settings(request={"name": f"{WEB}/compute/services/missing"})


@pytest.fixture
def iap_discovery(emulator: GcpEmulatorThread) -> Iterator[Any]:
    with discovery_client(emulator, "iap", "v1") as client:
        yield client


def test_unknown_settings_field_is_rejected(iap_discovery: Any) -> None:
    body = {"accessSettings": {"noSuchField": True}}
    with pytest.raises(HttpError) as caught:
        iap_discovery.v1().updateIapSettings(name=RUN, body=body).execute()
    assert caught.value.status_code == 400
    assert b'Unknown name \\"noSuchField\\"' in caught.value.content


def test_oauth_admin_api_is_shut_down(iap_discovery: Any) -> None:
    brands = iap_discovery.projects().brands()
    for request in (
        brands.list(parent=f"projects/{NUMBER}"),
        brands.create(parent=f"projects/{NUMBER}", body={"supportEmail": "a@example.com"}),
        brands.identityAwareProxyClients().create(parent=f"projects/{NUMBER}/brands/1", body={}),
    ):
        with pytest.raises(HttpError) as caught:
            request.execute()
        assert caught.value.status_code == 404
        assert b"permanently shut down" in caught.value.content
