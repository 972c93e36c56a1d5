"""cloudRun.regions end to end: one service in several regions behind one backend service; adding and
removing a region (NEG attached after it exists, detached before it is deleted); a missing region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import MULTI_REGIONS, PROJECT, REGION, World, condition, is_ready, protected, world

pytestmark = pytest.mark.timeout(90)

FIRST, SECOND, THIRD = MULTI_REGIONS
INGRESS_LB = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
INVOKER = "roles/run.invoker"


def atlas(*regions: str, **spec: Any) -> dict[str, Any]:
    return protected(
        "atlas",
        cloudRun={"service": "atlas", "regions": list(regions)},
        loadBalancer={"domains": ["atlas.example.com"]},
        **spec,
    )


def run_path(region: str) -> str:
    return f"v2/projects/{PROJECT}/locations/{region}/services/atlas"


def negs(w: World) -> dict[str, str]:
    """Region -> NEG name, of every serverless NEG in the project."""
    found = {}
    for path in w.compute():
        parts = path.split("/")
        if "networkEndpointGroups" in parts:
            found[parts[parts.index("regions") + 1]] = parts[-1]
    return found


def backends(w: World, obj: dict[str, Any]) -> list[str]:
    name = obj["status"]["backendService"]["name"]
    bs = w.gcp.state()[f"compute/v1/projects/{PROJECT}/global/backendServices/{name}"]
    return sorted(b["group"].split("/regions/")[1].split("/")[0] for b in bs.get("backends", []))


def invoker_members(w: World, region: str) -> set[str]:
    policy = w.policy(run_path(region))
    return {m for b in policy.get("bindings", []) if b["role"] == INVOKER for m in b["members"]}


async def test_every_region_gets_a_neg_behind_one_backend_service_and_resync_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch, resync_override=0.3) as w:
        await w.create(atlas(FIRST, SECOND))
        obj = await w.wait_ready("atlas")
        assert condition(obj, "Protected") == "True"
        assert sorted(negs(w)) == sorted([FIRST, SECOND])
        assert len(set(negs(w).values())) == 1  # the same name in each region
        assert backends(w, obj) == sorted([FIRST, SECOND])
        agent = f"serviceAccount:{obj['status']['serviceAgent']}"
        for region in (FIRST, SECOND):
            assert w.gcp.state()[run_path(region)]["ingress"] == INGRESS_LB
            assert agent in invoker_members(w, region)
            assert "iap-operator" in str(w.policy(run_path(region)))  # our claim, in each region
        assert w.gcp.state()[run_path(THIRD)]["ingress"] != INGRESS_LB  # not in the spec: untouched
        assert f"{FIRST}, {SECOND}" in (condition(obj, "LoadBalancerReady", "message") or "")
        scopes = {(r["kind"], r["scope"]) for r in obj["status"]["resources"]}
        assert {("NetworkEndpointGroup", FIRST), ("NetworkEndpointGroup", SECOND)} <= scopes

        mark = len(w.gcp.requests())
        for _ in range(2):  # two full resync passes over an up-to-date resource
            last = obj["status"]["lastSyncTime"]
            changed = await w.wait_for(
                lambda o, last=last: o is not None and o["status"]["lastSyncTime"] != last, "atlas"
            )
            assert changed is not None
            obj = changed
        assert w.writes(mark) == []
        assert is_ready(obj)


async def test_adding_then_removing_a_region_attaches_after_create_and_detaches_before_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        await w.create(atlas(FIRST, SECOND))
        obj = await w.wait_ready("atlas")
        neg_name = negs(w)[FIRST]
        bs_name = obj["status"]["backendService"]["name"]
        generation = obj["metadata"]["generation"]

        mark = len(w.gcp.requests())
        await w.patch_spec("atlas", {"cloudRun": {"service": "atlas", "regions": [FIRST, SECOND, THIRD]}})
        obj = await w.wait_for(
            lambda o: o is not None and o["metadata"]["generation"] > generation and is_ready(o)
            and o["status"]["observedGeneration"] == o["metadata"]["generation"], "atlas",
        )  # fmt: skip
        assert obj is not None
        assert backends(w, obj) == sorted(MULTI_REGIONS)
        writes = [(r["method"], r["path"]) for r in w.writes(mark)]
        neg_insert = next(
            i
            for i, (m, p) in enumerate(writes)
            if m == "POST" and f"regions/{THIRD}/networkEndpointGroups" in p
        )
        bs_patch = next(
            i for i, (m, p) in enumerate(writes) if m == "PATCH" and p.endswith(f"backendServices/{bs_name}")
        )
        assert neg_insert < bs_patch, writes  # fmt: skip
        assert not any(m == "DELETE" for m, _ in writes)  # nothing of the other regions is touched
        assert w.gcp.state()[run_path(THIRD)]["ingress"] == INGRESS_LB

        mark = len(w.gcp.requests())
        generation = obj["metadata"]["generation"]
        await w.patch_spec("atlas", {"cloudRun": {"service": "atlas", "regions": [FIRST, THIRD]}})
        obj = await w.wait_for(
            lambda o: o is not None and o["metadata"]["generation"] > generation and is_ready(o)
            and o["status"]["observedGeneration"] == o["metadata"]["generation"]
            and SECOND not in negs(w), "atlas",
        )  # fmt: skip
        assert obj is not None
        assert backends(w, obj) == sorted([FIRST, THIRD])
        writes = [(r["method"], r["path"]) for r in w.writes(mark)]
        detach = next(
            i for i, (m, p) in enumerate(writes) if m == "PATCH" and p.endswith(f"backendServices/{bs_name}")
        )
        delete = next(
            i
            for i, (m, p) in enumerate(writes)
            if m == "DELETE" and f"regions/{SECOND}/networkEndpointGroups/{neg_name}" in p
        )
        assert detach < delete, writes  # fmt: skip
        assert [p for m, p in writes if m == "DELETE"] == [
            p for m, p in writes if m == "DELETE" and SECOND in p
        ]
        assert f"serviceAccount:{obj['status']['serviceAgent']}" not in invoker_members(w, SECOND)
        assert sorted(negs(w)) == sorted([FIRST, THIRD])

        await w.delete("atlas")
        await w.wait_for(lambda o: o is None, "atlas")
        assert negs(w) == {}
        for region in MULTI_REGIONS:  # every region's grant and claim went with it
            assert not any("gcp-sa-iap" in m for m in invoker_members(w, region)), region
            assert "iap-operator" not in str(w.policy(run_path(region))), region


async def test_a_missing_region_is_named_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, monkeypatch) as w:
        mark = len(w.gcp.requests())
        await w.create(atlas(FIRST, "us-east1"))
        obj = await w.wait_for(
            lambda o: o is not None and condition(o, "Ready", "reason") == "NotFound", "atlas"
        )
        message = condition(obj, "Ready", "message") or ""
        assert "'us-east1'" in message, message
        assert FIRST not in message.split("region", 1)[1], message  # only the missing region is named
        assert w.writes(mark) == []
        assert negs(w) == {}
        assert w.gcp.state()[run_path(REGION)]["ingress"] != INGRESS_LB
