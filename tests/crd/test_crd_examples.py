"""examples/: the manifests users copy are valid, consistent, and cover every way of using the resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from iap_operator import api
from iap_sandbox.emulators.kube.admission import admit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _docs() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return found


DOCS = _docs()
PROTECTED = [(name, doc) for name, doc in DOCS if doc["kind"] == api.KIND]
SECRETS = [(name, doc) for name, doc in DOCS if doc["kind"] == "Secret"]


def test_there_are_examples() -> None:
    assert len(PROTECTED) >= 6
    assert {doc["kind"] for _, doc in DOCS} == {api.KIND, "Secret"}


@pytest.mark.parametrize(("file", "doc"), PROTECTED, ids=[name for name, _ in PROTECTED])
def test_example_is_admitted_and_parses(crd: dict[str, Any], file: str, doc: dict[str, Any]) -> None:
    stored = admit(crd, doc, None)
    spec = api.parse_spec(stored["spec"])
    assert spec.project_id == "demo-project"
    assert spec.cloud_run.primary_region == "us-central1"
    assert api.parse_spec(doc["spec"]) == spec


def test_examples_cover_every_way_of_using_the_resource() -> None:
    specs = [api.parse_spec(doc["spec"]) for _, doc in PROTECTED]
    load_balancers = [s.load_balancer for s in specs if s.load_balancer is not None]
    assert any(lb.domains and not lb.ssl_certificates for lb in load_balancers)  # Google-managed certificate
    assert any(lb.backend_service is not None for lb in load_balancers)
    assert any(s.mode is api.Mode.DIRECT for s in specs)
    assert any(s.oauth_client is not None for s in specs)
    assert any(s.access.condition is not None for s in specs)
    assert any(s.deletion_policy is api.DeletionPolicy.ABANDON for s in specs)
    assert any(len(s.cloud_run.regions_in_order) >= 2 for s in specs)  # several regions, one balancer
    assert any(
        any(m.startswith("group:") for m in s.access.members) and len(s.access.members) >= 2 for s in specs
    )
    services = [s.cloud_run.service for s in specs]
    assert len(set(services)) == len(services), "one example per Cloud Run service"


@pytest.mark.parametrize(("file", "doc"), SECRETS, ids=[name for name, _ in SECRETS])
def test_secrets_hold_placeholders_only(file: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, "1.37.0", strict=True)
    assert "data" not in doc, "examples carry no real (or encoded) values"
    assert all("replace" in value.lower() for value in doc["stringData"].values())  # REPLACE_ME, replaceme


def test_every_referenced_secret_is_in_the_examples() -> None:
    secrets = {doc["metadata"]["name"]: doc for _, doc in SECRETS}
    for _, doc in PROTECTED:
        ref = api.parse_spec(doc["spec"]).oauth_client
        if ref is None:
            continue
        secret = secrets[ref.secret_ref.name]
        assert {ref.secret_ref.client_id_key, ref.secret_ref.client_secret_key} <= set(secret["stringData"])
