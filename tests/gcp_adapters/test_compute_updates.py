"""Updates in place (fingerprints, setters), out-of-band changes, immutable fields, unmark (Abandon)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging

import pytest

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import IapSettings, Key, Kind, Marks, Neg, SslCertificate, TargetHttpsProxy
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import MARKS, OWNER, PROJECT, REGION, chain, compute_path, requests_to
from .test_compute_lifecycle import create_through, create_up_to

CLIENT_ID = "1234-abc.apps.googleusercontent.com"
SECRET = "not-a-real-secret-value"
SECRET_SHA = hashlib.sha256(SECRET.encode()).hexdigest()


async def test_backend_service_update_sends_the_fingerprint(cloud: Cloud, emulator: EmulatorHandle) -> None:
    resources = chain()
    desired, observed = await create_through(cloud, resources, "backend")
    disabled = dataclasses.replace(desired, iap=IapSettings(enabled=False))

    updated = await cloud.backend_services.update(PROJECT, disabled, observed)

    assert updated.spec == disabled
    assert updated.fingerprint != observed.fingerprint
    assert emulator.state()[compute_path(desired)]["iap"] == {
        "enabled": False,
        "oauth2ClientId": "",
        "oauth2ClientSecretSha256": hashlib.sha256(b"").hexdigest(),
    }
    assert [r["status"] for r in requests_to(emulator, "PATCH", desired.key.name)] == [200]


async def test_update_after_an_out_of_band_change_is_a_conflict(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    resources = chain()
    desired, observed = await create_through(cloud, resources, "backend")
    emulator.mutate(compute_path(desired), {"description": "edited in the console"})

    with pytest.raises(CloudError) as caught:
        await cloud.backend_services.update(PROJECT, dataclasses.replace(desired, protocol="HTTP"), observed)

    assert caught.value.fault is Fault.CONFLICT
    assert [r["status"] for r in requests_to(emulator, "PATCH", desired.key.name)] == [412]
    fresh = await cloud.backend_services.find(PROJECT, desired.key)
    assert fresh is not None
    repaired = await cloud.backend_services.update(
        PROJECT, dataclasses.replace(desired, protocol="HTTP"), fresh
    )
    assert repaired.spec.protocol == "HTTP"


async def test_custom_oauth_client_is_compared_by_hash_and_can_be_cleared(
    cloud: Cloud, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    resources = chain()
    desired = await create_up_to(cloud, resources, "backend")
    custom = dataclasses.replace(
        desired,
        iap=IapSettings(
            enabled=True, client_id=CLIENT_ID, client_secret_sha256=SECRET_SHA, client_secret=SECRET
        ),
    )

    observed = await cloud.backend_services.create(PROJECT, custom, MARKS)

    assert observed.spec == custom
    assert observed.spec.iap.client_secret_sha256 == SECRET_SHA
    assert SECRET not in str(emulator.state())
    # The engine refuses going back to the Google-managed client; the adapter asks with an empty client.
    cleared = await cloud.backend_services.update(PROJECT, desired, observed)
    assert cleared.spec == desired
    assert SECRET not in caplog.text


async def test_url_map_update_and_redirect_switch(cloud: Cloud, emulator: EmulatorHandle) -> None:
    first, second = chain("a"), chain("b")
    _, observed = await create_through(cloud, first, "url_map")
    await create_up_to(cloud, second, "url_map")
    moved = dataclasses.replace(first.url_map, default_service=second.backend.key.path(PROJECT))

    updated = await cloud.url_maps.update(PROJECT, moved, observed)

    assert updated.spec == moved
    with pytest.raises(CloudError) as stale:
        await cloud.url_maps.update(PROJECT, first.url_map, observed)  # the fingerprint moved on
    assert stale.value.fault is Fault.CONFLICT
    with pytest.raises(CloudError) as switch:
        await cloud.url_maps.update(PROJECT, dataclasses.replace(moved, https_redirect=True), updated)
    assert switch.value.fault is Fault.INVALID


async def test_https_proxy_calls_only_the_setters_that_differ(cloud: Cloud, emulator: EmulatorHandle) -> None:
    first, second = chain("a"), chain("b")
    _, observed = await create_through(cloud, first, "https_proxy")
    await create_up_to(cloud, second, "https_proxy")
    certs = (second.certificate.key.path(PROJECT), first.certificate.key.path(PROJECT))
    new_certs = TargetHttpsProxy(first.https_proxy.key, first.https_proxy.url_map, certs)

    updated = await cloud.https_proxies.update(PROJECT, new_certs, observed)

    assert updated.spec == new_certs  # order kept
    assert len(requests_to(emulator, "POST", f"/{first.https_proxy.key.name}/setSslCertificates")) == 1
    assert requests_to(emulator, "POST", f"/{first.https_proxy.key.name}/setUrlMap") == []
    new_map = dataclasses.replace(new_certs, url_map=second.url_map.key.path(PROJECT))
    assert (await cloud.https_proxies.update(PROJECT, new_map, updated)).spec == new_map
    assert len(requests_to(emulator, "POST", f"/{first.https_proxy.key.name}/setUrlMap")) == 1
    assert len(requests_to(emulator, "POST", f"/{first.https_proxy.key.name}/setSslCertificates")) == 1


async def test_http_proxy_set_url_map(cloud: Cloud, emulator: EmulatorHandle) -> None:
    first, second = chain("a"), chain("b")
    _, observed = await create_through(cloud, first, "http_proxy")
    await create_up_to(cloud, second, "http_proxy")
    moved = dataclasses.replace(first.http_proxy, url_map=second.redirect_map.key.path(PROJECT))

    updated = await cloud.http_proxies.update(PROJECT, moved, observed)

    assert updated.spec == moved
    assert emulator.state()[compute_path(moved)]["urlMap"].endswith(second.redirect_map.key.path(PROJECT))


async def test_forwarding_rule_target_is_set_other_fields_are_immutable(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    first, second = chain("a"), chain("b")
    _, observed = await create_through(cloud, first, "rule")
    await create_up_to(cloud, second, "http_proxy")  # everything before it, the HTTPS proxy included
    retargeted = dataclasses.replace(first.rule, target=second.https_proxy.key.path(PROJECT))

    updated = await cloud.forwarding_rules.update(PROJECT, retargeted, observed)

    assert updated.spec == retargeted
    assert len(requests_to(emulator, "POST", f"/{first.rule.key.name}/setTarget")) == 1
    with pytest.raises(CloudError) as caught:
        await cloud.forwarding_rules.update(
            PROJECT, dataclasses.replace(retargeted, port_range="8443"), updated
        )
    assert caught.value.fault is Fault.INVALID


@pytest.mark.parametrize(
    "spec",
    [
        Neg(Key(Kind.NEG, "neg-a", REGION), "other-service"),
        SslCertificate(Key(Kind.SSL_CERTIFICATE, "cert-a"), ("other.example.com",)),
    ],
)
async def test_kinds_without_update_refuse_a_change(
    cloud: Cloud, emulator: EmulatorHandle, spec: Neg | SslCertificate
) -> None:
    resources = chain()
    original = resources.neg if isinstance(spec, Neg) else resources.certificate
    adapter = cloud.compute(spec.key.kind)
    observed = await adapter.create(PROJECT, original, MARKS)
    assert await adapter.update(PROJECT, original, observed) == observed

    with pytest.raises(CloudError) as caught:
        await adapter.update(PROJECT, spec, observed)

    assert caught.value.fault is Fault.INVALID


async def test_unmark_rewrites_every_mark_compute_lets_us_change(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    """Every kind: labels where it has them, the description where it has a patch; the returned marks
    are what the resource keeps (Abandon's Events say so)."""
    resources = chain()
    await create_through(cloud, resources, "rule")
    await cloud.url_maps.create(PROJECT, resources.redirect_map, MARKS)
    await cloud.http_proxies.create(PROJECT, resources.http_proxy, MARKS)
    released = OWNER.released(MARKS)
    assert released.labels == {}
    assert released.description.startswith("Released by iap-operator")  # says whose it was
    kept = Marks(description="kept", labels={"team": "a"})
    described = (resources.backend, resources.url_map, resources.https_proxy, resources.http_proxy)
    labelled = (resources.address, resources.rule)
    unchangeable = (resources.neg, resources.certificate)

    answers = {}
    for spec in (*described, *labelled, *unchangeable):
        adapter = cloud.compute(spec.key.kind)
        observed = await adapter.find(PROJECT, spec.key)
        assert observed is not None
        answers[spec.key] = await adapter.unmark(PROJECT, observed, kept)

    state = emulator.state()
    for spec in described:
        assert state[compute_path(spec)]["description"] == "kept", spec.key
        assert answers[spec.key] == Marks(description="kept")
        assert not OWNER.owns((await cloud.compute(spec.key.kind).find(PROJECT, spec.key)).marks)
    for spec in labelled:  # globalAddresses has no patch; globalForwardingRules.patch takes networkTier only
        assert state[compute_path(spec)]["labels"] == {"team": "a"}
        assert state[compute_path(spec)]["description"] == MARKS.description
        assert answers[spec.key] == Marks(description=MARKS.description, labels={"team": "a"})
    for spec in unchangeable:
        assert state[compute_path(spec)]["description"] == MARKS.description
        assert answers[spec.key] == Marks(description=MARKS.description)
    assert state[compute_path(resources.https_proxy)]["urlMap"].endswith(resources.url_map.key.name)
    assert len(state[compute_path(resources.https_proxy)]["sslCertificates"]) == 1
    address = await cloud.addresses.find(PROJECT, resources.address.key)
    assert address is not None
    assert address.marks == Marks(description=MARKS.description, labels={"team": "a"})


async def test_regional_backend_service(cloud: Cloud, emulator: EmulatorHandle) -> None:
    resources = chain()
    await cloud.negs.create(PROJECT, resources.neg, MARKS)
    desired = dataclasses.replace(
        resources.backend, key=Key(Kind.BACKEND_SERVICE, "regional-bs", REGION), scheme="EXTERNAL_MANAGED"
    )

    observed = await cloud.backend_services.create(PROJECT, desired, MARKS)

    assert observed.spec == desired
    assert "/regions/us-central1/backendServices/regional-bs" in observed.self_link
    updated = await cloud.backend_services.update(
        PROJECT, dataclasses.replace(desired, protocol="HTTP"), observed
    )
    assert updated.spec.protocol == "HTTP"
    await cloud.backend_services.delete(PROJECT, desired.key)
    assert await cloud.backend_services.find(PROJECT, desired.key) is None
