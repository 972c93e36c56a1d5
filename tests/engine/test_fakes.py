"""The fakes themselves: calls recorded as reads or writes, injected failures, GCP's cross-kind rules."""

from __future__ import annotations

import pytest

from iap_operator.engine.errors import CloudError, Fault
from iap_operator.engine.resources import (
    BackendService,
    Binding,
    IamTarget,
    IamTargetKind,
    Key,
    Kind,
    Marks,
    Neg,
    Policy,
    UrlMap,
)

from .fakes import FakeGcp
from .scenario import INVOKER, INVOKER_TARGET, NUMBER, PROJECT, REGION, SERVICE, world

NEG = Neg(Key(Kind.NEG, "n", REGION), SERVICE)
MARKS = Marks("mine", {"owner": "me"})


async def test_calls_are_recorded_as_reads_and_writes(gcp: FakeGcp) -> None:
    neg = gcp.cloud().negs
    await neg.find(PROJECT, NEG.key)
    await neg.create(PROJECT, NEG, MARKS)
    await gcp.cloud().projects.project_number(PROJECT)

    assert [(c.port, c.method, c.write) for c in gcp.calls()] == [
        ("negs", "find", False),
        ("negs", "create", True),
        ("projects", "project_number", False),
    ]
    assert [c.subject for c in gcp.writes()] == ["n"]
    gcp.recorder.clear()
    assert gcp.calls() == []


async def test_injected_failures_fire_n_times_and_only_when_matching(gcp: FakeGcp) -> None:
    injected = gcp.fail(
        "negs", "find", Fault.TRANSIENT, times=2, when=lambda c: c.subject == "n", retry_after=3
    )
    negs = gcp.cloud().negs

    assert await negs.find(PROJECT, Key(Kind.NEG, "other", REGION)) is None
    for _ in range(2):
        with pytest.raises(CloudError) as caught:
            await negs.find(PROJECT, NEG.key)
        assert caught.value is injected
        assert caught.value.retry_after == 3
    assert await negs.find(PROJECT, NEG.key) is None
    assert len(gcp.calls()) == 4  # failed calls are recorded too


async def test_compute_fingerprints_marks_and_references(gcp: FakeGcp) -> None:
    negs, maps = gcp.cloud().negs, gcp.cloud().url_maps
    created = await negs.create(PROJECT, NEG, MARKS)
    assert created.marks == Marks("mine")  # NEGs have no labels: only the description marks them
    with pytest.raises(CloudError) as exists:
        await negs.create(PROJECT, NEG, MARKS)
    assert exists.value.fault is Fault.ALREADY_EXISTS

    dangling = UrlMap(
        Key(Kind.URL_MAP, "m"), default_service="projects/demo-project/global/backendServices/x"
    )
    with pytest.raises(CloudError) as missing:
        await maps.create(PROJECT, dangling, MARKS)
    assert missing.value.fault is Fault.NOT_FOUND

    stale = gcp.url_maps.put(PROJECT, UrlMap(Key(Kind.URL_MAP, "m")))
    gcp.url_maps.mutate(PROJECT, stale.spec.key, https_redirect=True)
    with pytest.raises(CloudError) as conflict:
        await maps.update(PROJECT, UrlMap(Key(Kind.URL_MAP, "m")), stale)
    assert conflict.value.fault is Fault.CONFLICT


async def test_delete_in_use_and_404(gcp: FakeGcp) -> None:
    neg = gcp.negs.put(PROJECT, NEG)
    gcp.backend_services.put(
        PROJECT, BackendService(Key(Kind.BACKEND_SERVICE, "b"), backends=(neg.spec.key.path(PROJECT),))
    )

    with pytest.raises(CloudError) as in_use:
        await gcp.cloud().negs.delete(PROJECT, NEG.key)
    assert in_use.value.fault is Fault.IN_USE
    await gcp.cloud().backend_services.delete(PROJECT, Key(Kind.BACKEND_SERVICE, "b"))
    await gcp.cloud().negs.delete(PROJECT, NEG.key)
    await gcp.cloud().negs.delete(PROJECT, NEG.key)  # 404: done
    assert gcp.compute_items() == {}


async def test_iam_etags_and_missing_resources() -> None:
    gcp = world()
    iam = gcp.cloud().iam
    first = await iam.get_policy(INVOKER_TARGET)
    edited = Policy((Binding(INVOKER, frozenset({"user:a@example.com"})),), etag=first.etag)

    stored = await iam.set_policy(INVOKER_TARGET, edited)
    assert stored.etag != first.etag
    with pytest.raises(CloudError) as conflict:
        await iam.set_policy(INVOKER_TARGET, edited)  # the old etag
    assert conflict.value.fault is Fault.CONFLICT

    with pytest.raises(CloudError) as gone:
        await iam.get_policy(IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, "404"))
    assert gone.value.fault is Fault.NOT_FOUND


async def test_cloud_run_update_checks_the_etag() -> None:
    gcp = world()
    run = gcp.cloud().cloud_run
    service = await run.find(PROJECT, REGION, SERVICE)
    assert service is not None
    updated = await run.update(service, ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER")
    assert updated.ingress == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"

    with pytest.raises(CloudError) as conflict:
        await run.update(service, iap_enabled=True)
    assert conflict.value.fault is Fault.CONFLICT
