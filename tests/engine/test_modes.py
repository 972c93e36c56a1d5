"""Attach mode (an existing backend service) and Direct mode (IAP on Cloud Run itself)."""

from __future__ import annotations

from iap_operator.engine.conditions import Reason
from iap_operator.engine.resources import (
    BackendService,
    IamTarget,
    IamTargetKind,
    IapSettings,
    Key,
    Kind,
    Marks,
    Neg,
)

from .fakes import FakeGcp
from .scenario import (
    ACCESSOR,
    AGENT_MEMBER,
    ALICE,
    INGRESS_LB,
    INVOKER,
    INVOKER_TARGET,
    NUMBER,
    PROJECT,
    REGION,
    SERVICE,
    Harness,
    attach_spec,
    direct_spec,
    reasons,
    spec,
)

PLATFORM = Marks(description="terraform: platform load balancer")


def shared_backend_service(gcp: FakeGcp, region: str | None = None) -> BackendService:
    neg = gcp.negs.put(PROJECT, Neg(Key(Kind.NEG, "platform-neg", REGION), SERVICE), PLATFORM)
    bs = BackendService(
        Key(Kind.BACKEND_SERVICE, "shared-bs", region),
        scheme="EXTERNAL_MANAGED",
        backends=(neg.spec.key.path(PROJECT),),
        iap=IapSettings(enabled=False),
    )
    gcp.backend_services.put(PROJECT, bs, PLATFORM)
    return bs


def compute_calls(gcp: FakeGcp) -> list[str]:
    ports = {store.port for store in gcp.stores()}
    return [f"{c.port}.{c.method}" for c in gcp.calls() if c.port in ports]


async def test_attach_patches_only_the_iap_block(gcp: FakeGcp, harness: Harness) -> None:
    bs = shared_backend_service(gcp)

    outcome = await harness.reconcile(attach_spec())

    assert compute_calls(gcp) == ["backend_services.find", "backend_services.update"]
    after = gcp.backend_services.only()
    assert after.spec == BackendService(
        bs.key, scheme=bs.scheme, protocol=bs.protocol, backends=bs.backends, iap=IapSettings(enabled=True)
    )
    assert after.marks == PLATFORM  # not claimed
    assert gcp.iam.members(IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, after.id), ACCESSOR) == {
        ALICE
    }
    assert gcp.cloud_run.get(PROJECT, REGION, SERVICE).ingress == INGRESS_LB
    assert outcome.ready
    assert reasons(outcome)["LoadBalancerReady"] == (True, Reason.UP_TO_DATE)
    assert "CertificateReady" not in reasons(outcome)
    assert outcome.status["backendService"] == {"name": "shared-bs", "id": after.id}
    assert outcome.status["jwtAudience"] == f"/projects/{NUMBER}/global/backendServices/{after.id}"
    assert outcome.status["resources"] == []  # nothing created (an empty list replaces an old one)
    assert "ipAddress" not in outcome.status
    assert [e.reason for e in outcome.events if "IAP on backend service" in e.message] == ["Updated"]

    gcp.recorder.clear()
    await harness.reconcile(attach_spec())
    assert gcp.writes() == []


async def test_attach_to_a_regional_backend_service(gcp: FakeGcp, harness: Harness) -> None:
    shared_backend_service(gcp, region=REGION)

    outcome = await harness.reconcile(
        spec(loadBalancer={"backendService": {"name": "shared-bs", "region": REGION}})
    )

    after = gcp.backend_services.only()
    assert after.spec.iap.enabled
    target = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, after.id, REGION)
    assert str(target).endswith(f"/iap_web/compute-{REGION}/services/{after.id}")
    assert gcp.iam.members(target, ACCESSOR) == {ALICE}
    assert outcome.status["jwtAudience"] == f"/projects/{NUMBER}/regions/{REGION}/backendServices/{after.id}"
    assert outcome.status["backendService"]["region"] == REGION


async def test_attach_to_a_missing_backend_service_waits(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.reconcile(attach_spec())

    assert compute_calls(gcp) == ["backend_services.find"]
    assert gcp.writes() == []  # found missing before anything is written (the claim included)
    assert outcome.poll_after == harness.settings.missing_retry
    assert outcome.error is None
    assert not outcome.stalled
    assert reasons(outcome)["Ready"] == (False, Reason.NOT_FOUND)
    assert "shared-bs" in next(c.message for c in outcome.conditions if c.type == "Ready")


async def test_direct_mode_enables_iap_on_cloud_run_without_compute(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.reconcile(direct_spec())

    assert compute_calls(gcp) == []
    service = gcp.cloud_run.get(PROJECT, REGION, SERVICE)
    assert service.iap_enabled
    assert service.ingress == "INGRESS_TRAFFIC_ALL"  # Direct mode keeps the service's own URL
    cloud_run_iap = IamTarget(IamTargetKind.IAP_CLOUD_RUN, NUMBER, SERVICE, REGION)
    assert gcp.iam.members(cloud_run_iap, ACCESSOR) == {ALICE}
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {AGENT_MEMBER}
    assert outcome.ready
    state = reasons(outcome)
    assert state["IapEnabled"] == (True, Reason.UP_TO_DATE)
    assert state["Protected"] == (True, Reason.UP_TO_DATE)
    assert "LoadBalancerReady" not in state
    assert "IngressRestricted" not in state
    assert outcome.status["url"] == service.uri
    assert outcome.status["jwtAudience"] == f"/projects/{NUMBER}/locations/{REGION}/services/{SERVICE}"
    assert outcome.status["grants"] == {"invoker": [AGENT_MEMBER], "access": [ALICE]}

    gcp.recorder.clear()
    await harness.reconcile(direct_spec())
    assert gcp.writes() == []


async def test_direct_mode_repairs_iap_turned_off(gcp: FakeGcp, harness: Harness) -> None:
    await harness.reconcile(direct_spec())
    gcp.cloud_run.mutate(PROJECT, REGION, SERVICE, iap_enabled=False)
    gcp.recorder.clear()

    outcome = await harness.reconcile(direct_spec())

    assert [(c.port, c.method) for c in gcp.writes()] == [("cloud_run", "update")]
    assert gcp.cloud_run.get(PROJECT, REGION, SERVICE).iap_enabled
    assert [e.reason for e in outcome.events] == ["DriftRepaired"]
