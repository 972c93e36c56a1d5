"""`iap-operator status NAME` against the real operator's work on both emulators: the tree follows the
references GCP reports, and each line says what Google Cloud holds now (drift, deletion, foreign)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import PROJECT, protected, world

from iap_operator.gcp.config import SERVICES
from iap_operator.wiring import status_tree

pytestmark = pytest.mark.timeout(60)


def point_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for service in SERVICES:
        monkeypatch.setenv(f"IAP_OPERATOR_ENDPOINT_{service.upper()}", url)
    monkeypatch.setenv("IAP_OPERATOR_ANONYMOUS_CREDENTIALS", "true")


async def tree(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert await status_tree.status([*args, "-o", "json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def flat(nodes: list[dict[str, Any]], depth: int = 0) -> list[tuple[int, str, str, str]]:
    rows = []
    for node in nodes:
        rows.append((depth, node["label"].split()[0], node["state"], node["detail"]))
        rows += flat(node.get("children") or [], depth + 1)
    return rows


async def test_the_tree_follows_gcp_references_and_shows_what_is_there_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with world(
        tmp_path, monkeypatch, rbac=False
    ) as w:  # the command reads as the user, not the operator
        point_at(monkeypatch, w.gcp.url)
        await w.create(protected())
        obj = await w.wait_ready()
        await w.stop()  # nothing repairs what the test changes below

        data = await tree(capsys, "hello")
        rows = flat(data["tree"])
        assert {state for _, _, state, _ in rows} == {"ok"}, [r for r in rows if r[2] != "ok"]
        kinds = [(depth, kind) for depth, kind, _, _ in rows]
        assert kinds[0] == (0, "Cloud")
        https_rule = kinds.index((0, "GlobalForwardingRule"))
        assert kinds[https_rule : https_rule + 7] == [
            (0, "GlobalForwardingRule"),
            (1, "TargetHttpsProxy"),
            (2, "UrlMap"),
            (3, "BackendService"),
            (4, "NetworkEndpointGroup"),
            (2, "SslCertificate"),
            (1, "GlobalAddress"),
        ]
        assert sum(1 for _, kind in kinds if kind == "GlobalAddress") == 2  # under both rules
        assert any("(shown above)" in detail for *_, detail in rows)
        assert any(obj["status"]["ipAddress"] in detail for *_, detail in rows)
        links = json.dumps(data["tree"])
        assert f"https://console.cloud.google.com/run/detail/us-central1/hello?project={PROJECT}" in links
        assert f"backends/details/backendService/{obj['status']['backendService']['name']}" in links

        resources = {r["kind"] + "/" + r["name"]: r for r in obj["status"]["resources"]}
        rule = next(r["name"] for r in resources.values() if r["name"].endswith("-fr-https"))
        backend = obj["status"]["backendService"]["name"]
        compute = f"compute/v1/projects/{PROJECT}/global"
        w.gcp.mutate(f"{compute}/forwardingRules/{rule}", delete=True)
        w.gcp.mutate(f"{compute}/backendServices/{backend}", {"iap": {"enabled": False}})
        address = next(r["name"] for r in resources.values() if r["kind"] == "GlobalAddress")
        w.gcp.mutate(
            f"{compute}/addresses/{address}",
            {"labels": {"iap-operator-owner": "another-uid"}, "description": "someone else's"},
        )

        rows = flat((await tree(capsys, "hello", "-n", "default"))["tree"])
        states = {(kind, state) for _, kind, state, _ in rows}
        assert ("GlobalForwardingRule", "MISSING") in states
        assert ("BackendService", "DRIFT") in states
        assert ("GlobalAddress", "NOT OURS") in states

        text_args = ["hello", "--offline"]
        assert await status_tree.status(text_args) == 0
        text = capsys.readouterr().out
        assert re.search(r"\n  Ready\s+True\s+UpToDate: ", text)
        assert "recorded" in text
        assert "MISSING" not in text  # offline: nothing is looked up


async def test_a_missing_resource_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch, start=False, rbac=False):
        with pytest.raises(SystemExit) as exit_:
            await status_tree.status(["nope", "--offline"])
        assert str(exit_.value) == "iap-operator status: IapProtectedService default/nope not found"
