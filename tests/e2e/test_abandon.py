"""deletionPolicy: Abandon end to end: every kind keeps working, loses every mark compute lets us change,
and its Event says exactly what stayed."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import World, protected, world

from iap_operator.engine.identity import MANAGED_BY_LABEL, OWNER_LABEL, Owner, Ownership

pytestmark = pytest.mark.timeout(60)

# What compute v1 lets the operator rewrite, per collection (discovery document: patch / setLabels).
DESCRIPTION_PATCHABLE = {"backendServices", "urlMaps", "targetHttpsProxies", "targetHttpProxies"}
LABELLED = {"addresses", "forwardingRules"}  # setLabels; no patch of the description
UNCHANGEABLE = {"networkEndpointGroups", "sslCertificates"}


async def abandoned_events(w: World, count: int, within: float = 10) -> list[dict[str, Any]]:
    """kopf posts Events in the background: watch (bounded) until `count` Abandoned ones arrived."""
    seen: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            stream = w._watch(f"{w.kube_url}/api/v1/namespaces/default/events")
            async with contextlib.aclosing(stream):
                async for _, event in stream:
                    if event.get("reason") == "Abandoned":
                        seen.append(event)
                        if len(seen) >= count:
                            break
    return seen


async def test_abandon_removes_every_mark_it_can_and_says_which_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(protected(deletionPolicy="Abandon"))
        owner = Ownership.fresh(Owner(*(await w.wait_ready())["status"]["owner"].split("/"))).owner.id
        created = w.compute()
        await w.delete()
        await w.wait_for(lambda o: o is None)
        after = w.compute()
        events = await abandoned_events(w, len(after))

    assert after.keys() == created.keys()
    collections = {path.split("/")[-2] for path in after}
    assert collections == DESCRIPTION_PATCHABLE | LABELLED | UNCHANGEABLE  # every kind was built
    by_name = {e["message"].split(" in place")[0].split()[-1]: e["message"] for e in events}
    assert len(by_name) == len(after), sorted(by_name)
    for path, resource in after.items():
        collection, name = path.split("/")[-2:]
        labels = resource.get("labels") or {}
        assert MANAGED_BY_LABEL not in labels
        assert OWNER_LABEL not in labels
        message = by_name[name]
        description = resource.get("description", "")
        if collection in DESCRIPTION_PATCHABLE:  # released: an object of the same name may adopt it
            assert f"Released by iap-operator (was for default/default/hello, owner {owner})." in description
            assert "Managed by" not in description, path
            assert "marked as released" in message, message
        else:
            assert f"(owner {owner})" in description, path  # compute has no way to change it
            assert "its description still names this resource as owner" in message, message
            assert ("ownership labels removed" in message) == (collection in LABELLED), message
        # Everything the balancer needs is still wired together.
        for field in ("urlMap", "target", "defaultService"):
            if field in resource:
                assert resource[field].rsplit("/", 1)[-1] in {p.rsplit("/", 1)[-1] for p in after}
