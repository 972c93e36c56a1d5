"""The adapters with the shared observation on, against the emulator: a resync's reads of N load-balancer
chains are a few lists, not a GET per resource; what we write, and what the list leaves out, is read by
name; the forwarding rule's address is named from the shared address list."""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from iap_operator.engine.identity import Owner, Ownership
from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import Key, Kind, UrlMap
from iap_operator.gcp.cloud import build_cloud
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_operator.gcp.retries import is_read
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import MARKS, PROJECT, REGION, RUN_SERVICE, CallLog, chain

ORDER = (
    "neg",
    "backend",
    "url_map",
    "redirect_map",
    "certificate",
    "https_proxy",
    "http_proxy",
    "address",
    "rule",
)
N = 20
# Per resync of N chains: one list per collection (8, NEGs in one region) and Cloud Run's one list.
READS_BOUND = 10


def shared_cloud(
    emu: EmulatorHandle, executor: ThreadPoolExecutor, log: CallLog, period: float = 3600
) -> Cloud:
    config = GcpConfig(
        endpoints=dict.fromkeys(SERVICES, emu.url),
        anonymous=True,
        timeout=10.0,
        operation_timeout=20.0,
        on_call=log,
        observe_period=period,
    )
    return build_cloud(config, executor)


def reads(log: CallLog) -> Counter[str]:
    return Counter(method for _, method, _ in log.calls if is_read(method))


def writes(log: CallLog) -> list[str]:
    return [method for _, method, _ in log.calls if not is_read(method)]


async def create_chains(cloud: Cloud, n: int) -> list[Any]:
    async def one(i: int) -> list[Any]:
        specs = [getattr(chain(f"c{i}"), attribute) for attribute in ORDER]
        for spec in specs:  # in order: each references the ones before
            await cloud.compute(spec.key.kind).create(PROJECT, spec, MARKS)
        return specs

    return [spec for specs in await asyncio.gather(*(one(i) for i in range(n))) for spec in specs]


async def observe_all(cloud: Cloud, specs: list[Any]) -> list[Any]:
    observed = [await cloud.compute(s.key.kind).find(PROJECT, s.key) for s in specs]
    observed.append(await cloud.cloud_run.find(PROJECT, REGION, RUN_SERVICE))
    return observed


async def test_a_resync_of_n_chains_reads_a_few_lists(
    emulator: EmulatorHandle, executor: ThreadPoolExecutor, cloud: Cloud
) -> None:
    specs = await create_chains(cloud, N)
    log = CallLog()
    shared = shared_cloud(emulator, executor, log)
    per_get = await observe_all(cloud, specs)  # the same reads, one GET each (sharing off)

    answered = await observe_all(shared, specs)

    assert answered == per_get  # a list item is observed exactly as its GET
    counted = reads(log)
    assert sum(counted.values()) <= READS_BOUND, counted
    assert not [m for m in counted if m.endswith(".get")], counted
    assert writes(log) == []
    assert counted["globalAddresses.list"] == 1  # the rules' addresses come from the one shared list
    rules = [o for o in answered[:-1] if o is not None and o.spec.key.kind is Kind.FORWARDING_RULE]
    assert len(rules) == N
    assert all(r.spec.ip_address.startswith(f"projects/{PROJECT}/global/addresses/") for r in rules)

    # A second resync within the period reads nothing at all.
    log.calls.clear()
    assert await observe_all(shared, specs) == per_get
    assert reads(log) == Counter()


async def test_what_we_write_is_read_by_name_once_then_shared(
    emulator: EmulatorHandle, executor: ThreadPoolExecutor, cloud: Cloud
) -> None:
    specs = await create_chains(cloud, 2)
    log = CallLog()
    shared = shared_cloud(emulator, executor, log)
    await observe_all(shared, specs)
    backend = next(s for s in specs if s.key.kind is Kind.BACKEND_SERVICE)
    adapter = shared.compute(Kind.BACKEND_SERVICE)
    before = await adapter.find(PROJECT, backend.key)
    assert before is not None
    changed = type(backend)(backend.key, backend.scheme, backend.protocol, backend.backends, backend.iap)
    object.__setattr__(changed, "iap", type(backend.iap)(enabled=False))
    log.calls.clear()

    updated = await adapter.update(PROJECT, changed, before)

    assert updated.spec.iap.enabled is False
    assert (await adapter.find(PROJECT, backend.key)) == updated  # not the list's older answer
    get_calls = [m for m in reads(log) if m.endswith(".get")]
    assert get_calls == ["backendServices.get"]
    assert reads(log)["backendServices.get"] == 1


async def test_someone_elses_resource_is_read_by_name_with_its_marks(
    emulator: EmulatorHandle, executor: ThreadPoolExecutor, cloud: Cloud
) -> None:
    """ManagementConflict needs the other owner's marks: the ownership filter leaves their resource out
    of the list, and the GET that follows shows it."""
    other = Ownership.fresh(Owner(cluster="other", namespace="team-b", name="hello"))
    theirs = UrlMap(Key(Kind.URL_MAP, "um-theirs"), https_redirect=True)
    unmarked = UrlMap(Key(Kind.URL_MAP, "um-unmarked"), https_redirect=True)
    await cloud.url_maps.create(PROJECT, theirs, other.marks())
    await cloud.url_maps.create(PROJECT, unmarked, type(MARKS)(description="hand-made"))
    log = CallLog()
    shared = shared_cloud(emulator, executor, log)

    found = await shared.url_maps.find(PROJECT, theirs.key)
    plain = await shared.url_maps.find(PROJECT, unmarked.key)
    missing = await shared.url_maps.find(PROJECT, Key(Kind.URL_MAP, "um-absent"))

    assert found is not None
    assert found.marks.description == other.marks().description
    assert plain is not None
    assert plain.marks.description == "hand-made"
    assert missing is None
    assert reads(log) == Counter({"urlMaps.list": 1, "urlMaps.get": 2})  # theirs is listed (marked)


async def test_an_out_of_band_change_is_seen_in_the_next_period(
    emulator: EmulatorHandle, executor: ThreadPoolExecutor, cloud: Cloud
) -> None:
    specs = await create_chains(cloud, 1)
    neg = next(s for s in specs if s.key.kind is Kind.NEG)
    backend = next(s for s in specs if s.key.kind is Kind.BACKEND_SERVICE)
    log = CallLog()
    shared = shared_cloud(emulator, executor, log, period=0.000001)  # every read starts a new period
    assert (await shared.backend_services.find(PROJECT, backend.key)) is not None
    emulator.mutate(f"compute/v1/{backend.key.path(PROJECT)}", delete=True)
    assert (await shared.backend_services.find(PROJECT, backend.key)) is None
    assert (await shared.negs.find(PROJECT, neg.key)) is not None
