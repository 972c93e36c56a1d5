"""IAM policies of Cloud Run services and IAP web resources: version 3, conditions, etag conflicts."""

from __future__ import annotations

import pytest
from tests.demo_project import NUMBER

from iap_operator.engine import iam
from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import Binding, IamTarget, IamTargetKind, Policy
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import PROJECT, REGION, RUN_SERVICE, chain, requests_to
from .test_compute_lifecycle import create_up_to

INVOKER = "roles/run.invoker"
ACCESSOR = "roles/iap.httpsResourceAccessor"
AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"
CONDITION = ("office hours", "weekdays only", "request.time.getDayOfWeek() < 5")

RUN_TARGET = IamTarget(IamTargetKind.CLOUD_RUN_SERVICE, PROJECT, RUN_SERVICE, REGION)
IAP_RUN_TARGET = IamTarget(IamTargetKind.IAP_CLOUD_RUN, NUMBER, RUN_SERVICE, REGION)


async def test_grant_and_read_back(cloud: Cloud, emulator: EmulatorHandle) -> None:
    empty = await cloud.iam.get_policy(RUN_TARGET)
    assert empty.bindings == ()
    assert empty.etag

    edited = iam.grant(empty, INVOKER, [AGENT])
    assert edited is not None
    written = await cloud.iam.set_policy(RUN_TARGET, edited)

    assert written.bindings == (Binding(INVOKER, frozenset({AGENT})),)
    assert written.etag != empty.etag
    assert await cloud.iam.get_policy(RUN_TARGET) == written
    stored = emulator.state()[f"v2/{RUN_TARGET}:iamPolicy"]
    assert stored["bindings"] == [{"role": INVOKER, "members": [AGENT]}]
    reads = requests_to(emulator, "GET", f"{RUN_SERVICE}:getIamPolicy")
    assert reads
    assert all(r["query"]["options.requestedPolicyVersion"] == "3" for r in reads)


async def test_a_concurrent_change_is_a_conflict(cloud: Cloud, emulator: EmulatorHandle) -> None:
    policy = await cloud.iam.get_policy(IAP_RUN_TARGET)
    someone_else = iam.grant(policy, ACCESSOR, ["user:other@example.com"])
    assert someone_else is not None
    await cloud.iam.set_policy(IAP_RUN_TARGET, someone_else)
    ours = iam.grant(policy, ACCESSOR, ["group:team@example.com"])
    assert ours is not None

    with pytest.raises(CloudError) as caught:
        await cloud.iam.set_policy(IAP_RUN_TARGET, ours)  # the etag we read is stale

    assert caught.value.fault is Fault.CONFLICT
    fresh = await cloud.iam.get_policy(IAP_RUN_TARGET)
    redone = iam.grant(fresh, ACCESSOR, ["group:team@example.com"])
    assert redone is not None
    final = await cloud.iam.set_policy(IAP_RUN_TARGET, redone)
    assert iam.members_of(final, ACCESSOR, None) == {"user:other@example.com", "group:team@example.com"}


async def test_conditional_bindings_round_trip_at_version_3(cloud: Cloud, emulator: EmulatorHandle) -> None:
    policy = await cloud.iam.get_policy(IAP_RUN_TARGET)
    edited = iam.grant(policy, ACCESSOR, ["user:a@example.com"], CONDITION)
    assert edited is not None

    written = await cloud.iam.set_policy(IAP_RUN_TARGET, edited)

    assert written.version == 3
    read = await cloud.iam.get_policy(IAP_RUN_TARGET)
    assert read.bindings == (Binding(ACCESSOR, frozenset({"user:a@example.com"}), CONDITION),)
    assert read.version == 3


async def test_iap_policy_of_a_backend_service(cloud: Cloud, emulator: EmulatorHandle) -> None:
    resources = chain()
    await create_up_to(cloud, resources, "url_map")
    backend = await cloud.backend_services.find(PROJECT, resources.backend.key)
    assert backend is not None
    target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, backend.id)
    policy = await cloud.iam.get_policy(target)
    edited = iam.grant(policy, ACCESSOR, ["domain:example.com"])
    assert edited is not None

    written = await cloud.iam.set_policy(target, edited)

    assert iam.members_of(written, ACCESSOR, None) == {"domain:example.com"}
    assert requests_to(emulator, "POST", f"/iap_web/compute/services/{backend.id}:setIamPolicy")


async def test_invalid_member_is_invalid(cloud: Cloud) -> None:
    policy = Policy(bindings=(Binding(INVOKER, frozenset({"not-a-member"})),))
    with pytest.raises(CloudError) as caught:
        await cloud.iam.set_policy(RUN_TARGET, policy)
    assert caught.value.fault is Fault.INVALID
