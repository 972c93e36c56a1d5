"""The fault suite: operators as processes, killed (-9), frozen (SIGSTOP/SIGCONT) and started at seeded
random moments while resources of every mode are created, updated and deleted. Invariants: convergence,
0 duplicates, 0 orphans, 0 lost foreign bindings, 0 writes from a non-leader, grants revoked.

Default: one seed, one resource per mode, two disturbances per phase (under a minute).
`IAP_FAULTS_LONG=1` (or `make faults`): two resources per mode, eight disturbances per phase, and the
seeds in `IAP_FAULTS_SEEDS` (default 1,2,3). `IAP_FAULTS_SEED=N` picks the seed of the default run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import pytest
from tests.e2e.harness import FOREIGN
from tests.faults.chaos import Plan, Run, run_chaos

from iap_operator.engine.identity import OWNER_LABEL, Owner

LONG = os.environ.get("IAP_FAULTS_LONG") == "1"
SEEDS = (
    [int(s) for s in os.environ.get("IAP_FAULTS_SEEDS", "1,2,3").split(",")]
    if LONG
    else [int(os.environ.get("IAP_FAULTS_SEED", "7"))]
)

pytestmark = pytest.mark.timeout(600 if LONG else 150)


def plan_for(seed: int) -> Plan:
    if LONG:
        return Plan(seed=seed, per_mode=2, events_per_phase=8)
    return Plan(seed=seed)


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed-{s}")
def chaos(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One run per seed, shared by the invariant tests below (every process is gone when it returns)."""
    tmp = tmp_path_factory.mktemp(f"chaos-{request.param}")
    return asyncio.run(run_chaos(plan_for(request.param), tmp))


def story(run: Run) -> str:
    return "\n".join(run.story)


def owner_of(resource: dict[str, Any], owners: set[str]) -> set[str]:
    """Whose ownership marks (owner ids, docs/ownership.md) a compute resource carries."""
    marks = {(resource.get("labels") or {}).get(OWNER_LABEL)}
    marks |= {who for who in owners if f"owner {who})" in resource.get("description", "")}
    return {m for m in marks if m}


def owner_id(obj: dict[str, Any]) -> str:
    return Owner(*obj["status"]["owner"].split("/")).id


def members(policy: dict[str, Any] | None, role: str) -> set[str]:
    return {m for b in (policy or {}).get("bindings") or [] if b["role"] == role for m in b["members"]}


def owner_ids(run: Run) -> set[str]:
    return {owner_id(obj) for objs in run.checkpoints.values() for obj in objs.values()}


def test_every_phase_converges_after_the_disturbances(chaos: Run) -> None:
    assert chaos.converged == {"create": True, "update": True, "delete": True}, story(chaos)
    assert len(chaos.checkpoints["create"]) == len(chaos.plan.names)
    assert chaos.forced_kill_done, "the operator was never killed right after a grant"


def test_no_duplicates_every_resource_accounted_for_by_exactly_one_object(chaos: Run) -> None:
    everyone = owner_ids(chaos)
    for phase in ("create", "update"):
        compute = chaos.compute_at[phase]
        recorded = {
            owner_id(obj): {r["name"] for r in obj["status"].get("resources") or []}
            for obj in chaos.checkpoints[phase].values()
        }
        found: dict[str, set[str]] = {who: set() for who in recorded}
        for path, resource in compute.items():
            owners = owner_of(resource, everyone)
            assert len(owners) <= 1, f"{path} claims {owners}"
            for owner in owners:
                found.setdefault(owner, set()).add(path.rsplit("/", 1)[-1])
        assert found == recorded, f"{phase}: GCP vs status.resources\n{story(chaos)}"


def test_no_orphans_nothing_of_ours_is_left_after_delete(chaos: Run) -> None:
    everyone = owner_ids(chaos)
    leftovers = [
        path
        for path, resource in chaos.final_state.items()
        if path.startswith("compute/")
        and "/operations/" not in path
        and (owner_of(resource, everyone) or "managed-by" in (resource.get("labels") or {}))
    ]
    assert leftovers == [], story(chaos)


def test_no_foreign_binding_or_resource_is_lost(chaos: Run) -> None:
    for path, before in chaos.foreign.items():
        after = chaos.final_state.get(path)
        assert after is not None, f"{path} is gone"
        if path.endswith(":iamPolicy"):
            for binding in before["bindings"]:
                assert FOREIGN in members(after, binding["role"]), f"{path} lost {FOREIGN}\n{story(chaos)}"
        else:  # the platform team's NEG and backend service: still theirs, still serving
            assert after.get("description") == before.get("description"), path
            assert after.get("backends") == before.get("backends"), path


def test_no_write_from_a_non_leader(chaos: Run) -> None:
    """Each process's GCP writes form one interval (its term); no two intervals overlap, and a leader
    thawed after a takeover writes nothing afterwards and exits."""
    terms = []
    for member in chaos.members:
        writes = [a for a in member.tap.arrivals if a.write]
        if member.thawed_after_takeover_at is not None:
            late = [a for a in writes if a.at >= member.thawed_after_takeover_at]
            assert late == [], f"{member.name} wrote after losing the Lease: {late}\n{story(chaos)}"
        if writes:
            terms.append((writes[0].at, writes[-1].at, member.name))
    terms.sort()
    for (_, end, name), (start, _, successor) in itertools.pairwise(terms):
        assert end < start, f"{name} still wrote after {successor} did\n{story(chaos)}"
    assert all(code == 1 for code in chaos.thawed_exit_codes), chaos.thawed_exit_codes


def test_every_grant_is_revoked_whatever_crashed_in_between(chaos: Run) -> None:
    """Every policy that stays (a Cloud Run service's, the IAP policy of a Direct service or of the
    platform team's backend service) holds only the foreign member when its resources are gone."""
    leftovers = {}
    backend_ids = {r.get("id") for p, r in chaos.final_state.items() if "/backendServices/" in p}
    for path, policy in chaos.final_state.items():
        if not path.endswith(":iamPolicy"):
            continue
        if "/iap_web/compute/services/" in path and path.split("/")[-1].split(":")[0] not in backend_ids:
            continue  # the policy of a backend service that no longer exists: gone with it in GCP
        granted = members(policy, "roles/run.invoker") | members(policy, "roles/iap.httpsResourceAccessor")
        if granted - {FOREIGN}:
            leftovers[path] = sorted(granted - {FOREIGN})
    assert leftovers == {}, story(chaos)
