"""The table of CRD schemas (cases/crd_schemas.yaml): each accepted or refused as the upstream code does."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from iap_sandbox.emulators.kube import errors
from iap_sandbox.emulators.kube.cluster import Cluster
from iap_sandbox.emulators.kube.kinds import CRD_KIND

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "cases" / "crd_schemas.yaml").read_text()
)
SCHEMA_PATH = "spec.versions[0].schema.openAPIV3Schema"


def crd_for(case: dict[str, Any]) -> dict[str, Any]:
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True, **case.get("version", {})}
    if case["schema"] is not None:
        version["schema"] = {"openAPIV3Schema": copy.deepcopy(case["schema"])}
    if case.get("status"):
        version["subresources"] = {"status": {}}
    overrides = dict(case.get("crd") or {})
    group = overrides.pop("group", "example.com")
    name = overrides.pop("metadata_name", f"widgets.{group}")
    spec = {
        "group": group,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"},
        "versions": [version],
        **overrides,
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": CRD_KIND.kind,
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_crd_case(case: dict[str, Any]) -> None:
    cluster = Cluster()
    expected = case["refused"]
    if not expected:
        cluster.create(CRD_KIND, None, crd_for(case))
        return
    with pytest.raises(errors.ApiError) as refusal:
        cluster.create(CRD_KIND, None, crd_for(case))
    status = refusal.value.status()
    assert status["code"] == 422, status
    causes = status["details"]["causes"]
    for want in expected:
        field = str(want["field"]).replace("~", SCHEMA_PATH, 1)
        matching = [
            c
            for c in causes
            if c["field"] == field
            and want.get("reason", c["reason"]) == c["reason"]
            and str(want.get("message", "")) in c["message"]
        ]
        assert matching, f"no cause {want} (field {field}) among {causes}"
    assert len(causes) == len(expected), causes


def test_every_case_names_its_upstream_source() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    assert all(str(c.get("upstream", "")).startswith("pkg/") for c in CASES)
    assert sum(1 for c in CASES if c["refused"]) >= 50
