"""Listing compute resources by name pattern (what a lost status no longer names), with real clients."""

from __future__ import annotations

from iap_operator.engine.ports import Cloud
from iap_operator.engine.resources import Kind
from iap_sandbox.emulators.gcp.testing import EmulatorHandle

from .conftest import MARKS, PROJECT, REGION, chain, requests_to


async def test_every_kind_lists_only_the_matching_names(cloud: Cloud, emulator: EmulatorHandle) -> None:
    ours, theirs = chain("x1a2b3c4d-a"), chain("other")
    for resources in (ours, theirs):
        for spec in (
            resources.neg,
            resources.backend,
            resources.url_map,
            resources.redirect_map,
            resources.certificate,
            resources.https_proxy,
            resources.http_proxy,
            resources.address,
            resources.rule,
        ):
            await cloud.compute(spec.key.kind).create(PROJECT, spec, MARKS)

    pattern = "[a-z]+-x1a2b3c4d-[a-z0-9-]+"
    found = {
        kind: await cloud.inventory.names(PROJECT, kind, REGION if kind is Kind.NEG else None, pattern)
        for kind in Kind
    }

    assert found[Kind.NEG] == ["neg-x1a2b3c4d-a"]
    assert found[Kind.BACKEND_SERVICE] == ["bs-x1a2b3c4d-a"]
    assert sorted(found[Kind.URL_MAP]) == ["redirect-x1a2b3c4d-a", "um-x1a2b3c4d-a"]
    assert found[Kind.SSL_CERTIFICATE] == ["cert-x1a2b3c4d-a"]
    assert found[Kind.TARGET_HTTPS_PROXY] == ["https-x1a2b3c4d-a"]
    assert found[Kind.TARGET_HTTP_PROXY] == ["http-x1a2b3c4d-a"]
    assert found[Kind.ADDRESS] == ["ip-x1a2b3c4d-a"]
    assert found[Kind.FORWARDING_RULE] == ["fr-x1a2b3c4d-a"]
    lists = requests_to(emulator, "GET", "/networkEndpointGroups")
    assert lists
    assert all("filter" in r["query"] for r in lists)
    assert await cloud.inventory.names(PROJECT, Kind.NEG, REGION, "nothing-[0-9]+") == []
