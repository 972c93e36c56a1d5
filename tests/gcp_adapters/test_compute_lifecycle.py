"""Every compute kind: find (None on 404), create (marks, requestId), create again (409 adopts), delete."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import Kind, Observed
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import MARKS, PROJECT, Chain, chain, compute_path, requests_to

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
LABELLED = {Kind.ADDRESS, Kind.FORWARDING_RULE}


async def create_up_to(cloud: Cloud, resources: Chain, last: str) -> Any:
    """Create the chain in order up to `last` (its references exist first); returns `last`'s spec."""
    spec: Any = None
    for attribute in ORDER[: ORDER.index(last) + 1]:
        spec = getattr(resources, attribute)
        if attribute != last:
            await cloud.compute(spec.key.kind).create(PROJECT, spec, MARKS)
    return spec


async def create_through(cloud: Cloud, resources: Chain, last: str) -> tuple[Any, Observed[Any]]:
    """Create the chain in order up to `last` included; returns `last`'s spec and what GCP answered."""
    spec = await create_up_to(cloud, resources, last)
    return spec, await cloud.compute(spec.key.kind).create(PROJECT, spec, MARKS)


def clear_log(emu: EmulatorHandle) -> None:
    emu.world.requests.clear()


def collection_of(spec: Any) -> str:
    return str(spec.key.path(PROJECT)).rsplit("/", 1)[0]


@pytest.mark.parametrize("which", ORDER)
async def test_create_find_and_delete(cloud: Cloud, emulator: EmulatorHandle, which: str) -> None:
    desired = await create_up_to(cloud, chain(), which)
    adapter = cloud.compute(desired.key.kind)
    clear_log(emulator)
    assert await adapter.find(PROJECT, desired.key) is None

    created = await adapter.create(PROJECT, desired, MARKS)

    assert created.spec == desired
    assert created.marks.description == MARKS.description
    assert created.marks.labels == (MARKS.labels if desired.key.kind in LABELLED else {})
    assert created.id.isdigit()
    assert created.self_link == f"https://www.googleapis.com/compute/v1/{desired.key.path(PROJECT)}"
    inserts = requests_to(emulator, "POST", collection_of(desired))
    assert len(inserts) == 1
    assert uuid.UUID(inserts[0]["query"]["requestId"]).version == 4
    stored = emulator.state()[compute_path(desired)]
    assert stored["description"] == MARKS.description
    assert await adapter.find(PROJECT, desired.key) == created

    await adapter.delete(PROJECT, desired.key)

    assert await adapter.find(PROJECT, desired.key) is None
    assert compute_path(desired) not in emulator.state()
    await adapter.delete(PROJECT, desired.key)  # already gone: done
    deletes = requests_to(emulator, "DELETE", str(desired.key.path(PROJECT)))
    assert [d["status"] for d in deletes] == [200, 404]
    assert deletes[0]["query"]["requestId"] != inserts[0]["query"]["requestId"]


@pytest.mark.parametrize("which", ORDER)
async def test_create_after_conflict_returns_the_existing_resource(
    cloud: Cloud, emulator: EmulatorHandle, which: str
) -> None:
    desired = await create_up_to(cloud, chain(), which)
    adapter = cloud.compute(desired.key.kind)
    clear_log(emulator)
    first = await adapter.create(PROJECT, desired, MARKS)

    again = await adapter.create(PROJECT, desired, MARKS)

    assert again.id == first.id
    assert again.spec == desired
    inserts = requests_to(emulator, "POST", collection_of(desired))
    assert [r["status"] for r in inserts] == [200, 409]
    assert inserts[0]["query"]["requestId"] != inserts[1]["query"]["requestId"]


async def test_references_come_back_relative_whatever_gcp_returns(
    cloud: Cloud, emulator: EmulatorHandle
) -> None:
    resources = chain()
    _, rule = await create_through(cloud, resources, "rule")
    stored = emulator.state()
    # GCP answers full URLs (and the IP literal for IPAddress); the adapters normalize both.
    assert stored[compute_path(resources.backend)]["backends"][0]["group"].startswith("https://")
    assert not stored[compute_path(resources.rule)]["IPAddress"].startswith("projects/")
    assert rule.spec.ip_address == resources.address.key.path(PROJECT)
    assert rule.spec.target == resources.https_proxy.key.path(PROJECT)
    backend = await cloud.backend_services.find(PROJECT, resources.backend.key)
    assert backend is not None
    assert backend.spec.backends == (resources.neg.key.path(PROJECT),)
    assert backend.outputs == {"id": backend.id, "enableCDN": "false"}
    address = await cloud.addresses.find(PROJECT, resources.address.key)
    assert address is not None
    assert address.outputs["address"] == stored[compute_path(resources.address)]["address"]
    certificate = await cloud.ssl_certificates.find(PROJECT, resources.certificate.key)
    assert certificate is not None
    managed = stored[compute_path(resources.certificate)]["managed"]
    assert certificate.outputs == {
        "status": managed["status"],
        **{f"domain/{d}": s for d, s in managed["domainStatus"].items()},
    }
