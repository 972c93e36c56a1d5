"""The table of custom resources (cases/crd_objects.yaml): stored, pruned and defaulted, or refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from iap_sandbox.emulators.kube import errors
from iap_sandbox.emulators.kube.admitting import default_admitter
from iap_sandbox.emulators.kube.cluster import Cluster
from iap_sandbox.emulators.kube.kinds import CRD_KIND

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "cases" / "crd_objects.yaml").read_text()
)


def crd(schema: dict[str, Any]) -> dict[str, Any]:
    version = {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": CRD_KIND.kind,
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [version],
        },
    }


def body(case: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": "t", **(case.get("metadata") or {})}
    return {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": meta, **fields}


def subset(want: Any, have: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and subset(v, have[k]) for k, v in want.items())
    return bool(want == have)


def lookup(obj: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return False
        obj = obj[part]
    return True


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_object_case(case: dict[str, Any]) -> None:
    cluster = Cluster(admitter=default_admitter())
    cluster.create(CRD_KIND, None, crd(case["schema"]))
    info = cluster.registry.lookup("example.com", "v1", "things")
    assert info is not None

    def write() -> dict[str, Any]:
        if "old" in case:
            old = cluster.create(info, "default", body(case, case["old"]))
            new = {**body(case, case["object"]), "metadata": {**old["metadata"]}}
            return cluster.replace(info, "default", "t", new)
        return cluster.create(info, "default", body(case, case["object"]))

    if "refused" not in case:
        stored = write()
        assert subset(case["stored"], stored), stored
        for path in case.get("absent", []):
            assert not lookup(stored, path), f"{path} was kept: {stored}"
        return
    with pytest.raises(errors.ApiError) as refusal:
        write()
    status = refusal.value.status()
    assert status["code"] == 422, status
    causes = status["details"]["causes"]
    for want in case["refused"]:
        found = [
            c
            for c in causes
            if c["field"] == want["field"]
            and want.get("reason", c["reason"]) == c["reason"]
            and str(want.get("message", "")) in c["message"]
        ]
        assert found, f"no cause {want} among {causes}"
    assert len(causes) == len(case["refused"]), causes


def test_every_case_names_its_upstream_source() -> None:
    assert len({c["name"] for c in CASES}) == len(CASES) >= 20
    assert all(c.get("upstream") for c in CASES)
