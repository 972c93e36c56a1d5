"""The operator's own Kubernetes calls against the emulated API: retries, RBAC refusals, its Events."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import kopf
import pytest

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.outcome import Event
from iap_operator.wiring.events import COMPONENT, EventRecorder, Regarding
from iap_operator.wiring.kube import Backoff, KubeClient, KubeError
from iap_sandbox.emulators.kube.server import KubeEmulatorHandle, serve_kube_emulator

pytestmark = pytest.mark.timeout(20)
SA = ("iap-operator-system", "iap-operator")
SECRET = "/api/v1/namespaces/team-a/secrets/oauth"


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
async def cluster() -> AsyncIterator[KubeEmulatorHandle]:
    async with serve_kube_emulator(rbac=True) as handle:
        handle.ensure_namespace("team-a")
        handle.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "oauth", "namespace": "team-a"},
                "stringData": {"client_id": "1-x.apps.googleusercontent.com"},
            }
        )
        yield handle


def client(cluster: KubeEmulatorHandle, sleeps: Sleeps, token: str | None = None) -> KubeClient:
    assert cluster.certificate is not None
    info = kopf.ConnectionInfo(
        server=cluster.url,
        token=token or cluster.admin_token,
        ca_data=base64.b64encode(cluster.certificate.ca_pem).decode(),
    )
    return KubeClient(info, backoff=Backoff(attempts=4, base=0.5, cap=8), sleep=sleeps)


async def test_a_429_is_retried_no_sooner_than_retry_after(cluster: KubeEmulatorHandle) -> None:
    cluster.faults.add(method="GET", path="/secrets/oauth$", status=429, retry_after=3, count=1)
    sleeps = Sleeps()
    data = await client(cluster, sleeps).read("team-a", "oauth")
    assert data == {"client_id": "1-x.apps.googleusercontent.com"}
    assert sleeps == [3.0]


async def test_server_errors_back_off_exponentially(cluster: KubeEmulatorHandle) -> None:
    cluster.faults.add(method="GET", path="/secrets/oauth$", status=503, count=2)
    sleeps = Sleeps()
    assert await client(cluster, sleeps).read("team-a", "oauth") is not None
    assert len(sleeps) == 2
    assert 0.4 <= sleeps[0] <= 0.6
    assert 0.8 <= sleeps[1] <= 1.2


async def test_an_api_that_stays_down_is_a_transient_cloud_error(cluster: KubeEmulatorHandle) -> None:
    cluster.faults.add(method="GET", path="/secrets/oauth$", status=429, retry_after=5)
    sleeps = Sleeps()
    with pytest.raises(CloudError) as failure:
        await client(cluster, sleeps).read("team-a", "oauth")
    assert failure.value.fault is Fault.TRANSIENT
    assert failure.value.retry_after == 5
    assert len(sleeps) == 3  # four attempts


async def test_calls_without_retry_fail_at_once(cluster: KubeEmulatorHandle) -> None:
    cluster.faults.add(method="GET", path="/leases/", status=503, count=1)
    sleeps = Sleeps()
    with pytest.raises(KubeError) as failure:
        await client(cluster, sleeps).request(
            "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/x"
        )
    assert failure.value.status == 503
    assert sleeps == []


async def test_an_rbac_refusal_says_which_grant_is_missing(cluster: KubeEmulatorHandle) -> None:
    token = cluster.service_account_token(*SA)
    sleeps = Sleeps()
    with pytest.raises(CloudError) as failure:
        await client(cluster, sleeps, token).read("team-a", "oauth")
    assert failure.value.fault is Fault.PERMISSION_DENIED
    message = failure.value.message
    assert "system:serviceaccount:iap-operator-system:iap-operator" in message
    assert "get secrets 'oauth' (API group \"\") in namespace 'team-a'" in message
    assert (
        "kubectl create rolebinding iap-operator-secret-reader -n team-a "
        "--clusterrole=iap-operator-secret-reader --serviceaccount=iap-operator-system:iap-operator"
    ) in message
    assert sleeps == []  # a refusal is not retried


async def test_a_missing_secret_is_none(cluster: KubeEmulatorHandle) -> None:
    assert await client(cluster, Sleeps()).read("team-a", "nope") is None


async def test_no_answer_at_all_is_retried_then_transient() -> None:
    sleeps = Sleeps()
    kube = KubeClient(
        kopf.ConnectionInfo(server="http://127.0.0.1:9"), backoff=Backoff(attempts=2), sleep=sleeps
    )
    with pytest.raises(CloudError) as failure:
        await kube.read("team-a", "oauth")
    assert failure.value.fault is Fault.TRANSIENT
    assert len(sleeps) == 1


REGARDING = Regarding("iap-operator.dev/v1alpha1", "IapProtectedService", "team-a", "web", "uid-1", 3)


async def test_events_name_the_operator_and_failures_are_posted_once(cluster: KubeEmulatorHandle) -> None:
    recorder = EventRecorder(client(cluster, Sleeps()), instance="pod-1")
    denied = Event("PermissionDenied", "RBAC does not allow it", warning=True)
    await recorder.post(REGARDING, [denied, Event("Created", "created BackendService web")])
    await recorder.post(REGARDING, [denied, Event("Created", "created UrlMap web")])
    # A restarted operator remembers nothing, yet posts the failure no second time (same name: 409).
    await EventRecorder(client(cluster, Sleeps()), instance="pod-2").post(REGARDING, [denied])
    events = cluster.cluster.list_objects(cluster.kind("v1", "Event"), "team-a").items
    reasons = sorted(e["reason"] for e in events)
    assert reasons == ["Created", "Created", "PermissionDenied"]
    for event in events:
        assert event["source"] == {"component": COMPONENT}
        assert event["reportingComponent"] == COMPONENT
        assert event["involvedObject"]["uid"] == "uid-1"
    failure = next(e for e in events if e["reason"] == "PermissionDenied")
    assert (failure["type"], failure["reportingInstance"], failure["count"]) == ("Warning", "pod-1", 1)


async def test_the_next_generation_reports_its_failure_again(cluster: KubeEmulatorHandle) -> None:
    recorder = EventRecorder(client(cluster, Sleeps()))
    failed = Event("ApiError", "compute: 503", warning=True)
    await recorder.post(REGARDING, [failed])
    await recorder.post(Regarding(**{**REGARDING.__dict__, "generation": 4}), [failed])
    events = cluster.cluster.list_objects(cluster.kind("v1", "Event"), "team-a").items
    assert [e["reason"] for e in events] == ["ApiError", "ApiError"]


async def test_a_refused_event_post_is_swallowed(cluster: KubeEmulatorHandle) -> None:
    token = cluster.service_account_token(*SA)
    recorder = EventRecorder(client(cluster, Sleeps(), token))
    await recorder.post(REGARDING, [Event("ApiError", "x", warning=True)])  # 403: logged, not raised
    assert cluster.cluster.list_objects(cluster.kind("v1", "Event"), "team-a").items == []
