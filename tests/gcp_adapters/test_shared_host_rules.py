"""Many services attaching to one URL map at once, through the product's adapter and the emulator's
fingerprints: every attach lands (no lost edit), each wrote once, foreign rules survive, detach in any
order leaves exactly the foreign map (engine.host_rules, docs/shared-balancer.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib

from tests.demo_project import PROJECT

from iap_operator.engine import host_rules, urlmap_rules
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import BackendService, IapSettings, Key, Kind, Neg, UrlMap
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import MARKS, REGION, RUN_SERVICE, requests_to

N = 6


def attachment(index: int, backend: str) -> urlmap_rules.Attachment:
    name = f"svc{index}"
    return urlmap_rules.Attachment(
        owner_id=hashlib.sha256(name.encode()).hexdigest()[:16],
        owner_text=f"default/team-{index % 2}/{name}",
        matcher=f"pm-{name}",
        hosts=(f"{name}.tools.example.com",),
        service=backend,
        path_prefixes=("/app",) if index % 3 == 0 else (),
    )


async def shared_map(cloud: Cloud, emulator: EmulatorHandle) -> str:
    neg = Neg(Key(Kind.NEG, "neg-shared", REGION), RUN_SERVICE)
    await cloud.negs.create(PROJECT, neg, MARKS)
    backend = BackendService(
        Key(Kind.BACKEND_SERVICE, "bs-shared"),
        backends=(neg.key.path(PROJECT),),
        iap=IapSettings(enabled=True),
    )
    await cloud.backend_services.create(PROJECT, backend, MARKS)
    await cloud.url_maps.create(
        PROJECT, UrlMap(Key(Kind.URL_MAP, "um-shared"), default_service=backend.key.path(PROJECT)), MARKS
    )
    return str(backend.key.path(PROJECT))


async def test_concurrent_attaches_all_land_and_detach_in_any_order(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    port = cloud.url_map_rules
    assert port is not None
    backend = await shared_map(cloud, emulator)
    human = await port.read_rules(PROJECT, "um-shared")
    assert human is not None
    foreign = {
        **human,
        "hostRules": [{"hosts": ["status.example.com"], "pathMatcher": "human"}],
        "pathMatchers": [{"name": "human", "defaultService": backend}],
    }
    await port.write_rules(PROJECT, "um-shared", foreign)
    attachments = [attachment(i, backend) for i in range(N)]

    edits = await asyncio.gather(*(host_rules.attach(port, PROJECT, "um-shared", a) for a in attachments))

    assert {e.result for e in edits} == {host_rules.Result.WRITTEN}
    assert sum(e.writes for e in edits) == N  # one write each: the losers of a race re-read, never rewrite
    final = await port.read_rules(PROJECT, "um-shared")
    assert final is not None
    assert all(urlmap_rules.up_to_date(final, a) for a in attachments)
    assert final["hostRules"][0]["hosts"] == ["status.example.com"]
    statuses = [r.get("status") for r in requests_to(emulator, "PUT", "/urlMaps/um-shared")]
    assert statuses.count(200) == N + 1  # the human's write and one per attach
    assert statuses.count(412) == sum(e.conflicts for e in edits)  # each stale read cost one refused write

    again = await asyncio.gather(*(host_rules.attach(port, PROJECT, "um-shared", a) for a in attachments))
    assert {e.result for e in again} == {host_rules.Result.UP_TO_DATE}  # a second pass writes nothing

    taken = dataclasses.replace(attachment(99, backend), hosts=("svc1.tools.example.com",))
    refused = await host_rules.attach(port, PROJECT, "um-shared", taken)
    assert refused.result is host_rules.Result.CONFLICT
    assert "default/team-1/svc1" in refused.message

    await asyncio.gather(
        *(host_rules.detach(port, PROJECT, "um-shared", a) for a in reversed(attachments[::2]))
    )
    await asyncio.gather(*(host_rules.detach(port, PROJECT, "um-shared", a) for a in attachments[1::2]))
    left = await port.read_rules(PROJECT, "um-shared")
    assert left is not None
    assert [r["pathMatcher"] for r in left["hostRules"]] == ["human"]
    assert [m["name"] for m in left["pathMatchers"]] == ["human"]
    done = await host_rules.detach(port, PROJECT, "um-shared", attachments[0])
    assert done.result is host_rules.Result.UP_TO_DATE


async def test_batched_attaches_share_a_few_writes(cloud: Cloud, emulator: EmulatorHandle) -> None:
    """One process, one writer per URL map: everyone who asked while a write ran goes in the next one."""
    port = cloud.url_map_rules
    assert port is not None
    backend = await shared_map(cloud, emulator)
    batcher = host_rules.Batcher(port)
    attachments = [attachment(i, backend) for i in range(N)]
    taken = dataclasses.replace(attachment(99, backend), hosts=("svc2.tools.example.com",))

    edits = await asyncio.gather(*(batcher.attach(PROJECT, "um-shared", a) for a in [*attachments, taken]))

    assert [e.result for e in edits[:N]] == [host_rules.Result.WRITTEN] * N
    assert edits[N].result is host_rules.Result.CONFLICT  # asked last: svc2 already holds the host
    final = await port.read_rules(PROJECT, "um-shared")
    assert final is not None
    assert all(urlmap_rules.up_to_date(final, a) for a in attachments)
    statuses = [r.get("status") for r in requests_to(emulator, "PUT", "/urlMaps/um-shared")]
    assert statuses.count(200) <= 2  # the first alone, then everyone who queued behind it
    assert 412 not in statuses

    again = await asyncio.gather(*(batcher.detach(PROJECT, "um-shared", a) for a in attachments))
    assert {e.result for e in again} == {host_rules.Result.WRITTEN}
    left = await port.read_rules(PROJECT, "um-shared")
    assert left is not None
    assert left.get("hostRules", []) == []


async def test_a_cancelled_waiter_does_not_stop_the_others(cloud: Cloud, emulator: EmulatorHandle) -> None:
    port = cloud.url_map_rules
    assert port is not None
    backend = await shared_map(cloud, emulator)
    batcher = host_rules.Batcher(port)
    first, second = attachment(1, backend), attachment(2, backend)
    cancelled = asyncio.ensure_future(batcher.attach(PROJECT, "um-shared", first))
    kept = asyncio.ensure_future(batcher.attach(PROJECT, "um-shared", second))
    await asyncio.sleep(0)  # both queued; the writer has started
    cancelled.cancel()

    assert (await asyncio.wait_for(kept, 30)).result is host_rules.Result.WRITTEN
    final = await port.read_rules(PROJECT, "um-shared")
    assert final is not None
    assert urlmap_rules.up_to_date(final, second)
    assert urlmap_rules.up_to_date(final, first)  # asked for before the cancel: written with the batch
