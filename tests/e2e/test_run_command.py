"""`iap-operator run` as a real process: Lease, JSON logs, Prometheus metrics of the calls it made."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest
from tests.e2e.harness import protected, world
from tests.e2e.processes import free_port, start_operator

pytestmark = pytest.mark.timeout(60)


async def scrape(url: str, within: float = 20) -> str:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as resp:
                    return await resp.text()
            except aiohttp.ClientConnectionError:
                assert time.monotonic() < deadline, "metrics endpoint never came up"
                await asyncio.sleep(0.1)


async def test_run_command_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path, monkeypatch, start=False) as w:
        port = free_port()
        operator = await start_operator(
            w, tmp_path, f"--metrics-port={port}", "--lease-name=iap-operator-leader",
            "--lease-namespace=iap-operator-system", fast=("--poll-interval=0.2",),
            env={"IAP_OPERATOR_LOG_FORMAT": "json", "POD_ID": "operator-pod-1"},
        )  # fmt: skip
        try:
            await w.create(protected())
            obj = await w.wait_ready(within=40)
            async with w.session.get(
                f"{w.kube_url}/apis/coordination.k8s.io/v1/namespaces/iap-operator-system/leases/iap-operator-leader"
            ) as resp:
                assert (await resp.json())["spec"]["holderIdentity"] == "operator-pod-1"
            text = await scrape(f"http://127.0.0.1:{port}/metrics")
            assert 'iap_operator_gcp_api_calls_total{code="200",method=' in text
            assert 'service="compute"' in text
            assert 'iap_operator_reconciles_total{result="success"}' in text
            assert "iap_operator_resources{" in text
        finally:
            code = await operator.stop()
        assert code == 0
        lines = [json.loads(x) for x in operator.output().splitlines() if x.startswith("{")]
        assert lines, "JSON log lines expected"
        assert any(line.get("namespace") == "default" and line.get("name") == "hello" for line in lines)
        assert obj["status"]["url"] == "https://hello.example.com"
        async with w.session.get(
            f"{w.kube_url}/apis/coordination.k8s.io/v1/namespaces/iap-operator-system/leases/iap-operator-leader"
        ) as resp:
            assert not (await resp.json())["spec"].get("holderIdentity"), "released on shutdown"
