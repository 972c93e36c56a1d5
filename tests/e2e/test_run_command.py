"""`iap-operator run` as a real process: Lease, JSON logs, Prometheus metrics of the calls it made."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from tests.e2e.harness import PROJECT, protected, world

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        env = {
            **os.environ,
            "KUBECONFIG": str(tmp_path / "kubeconfig"),
            "IAP_OPERATOR_ALLOWED_PROJECTS": f"default={PROJECT}",
            "IAP_OPERATOR_LOG_FORMAT": "json",
            "POD_ID": "operator-pod-1",
        }
        args = [
            f"--endpoint={s}={w.gcp.url}"
            for s in ("compute", "run", "iap", "serviceusage", "cloudresourcemanager")
        ]
        log = (tmp_path / "operator.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "iap_operator", "run", *args,
            "--anonymous-credentials", f"--metrics-port={port}", "--poll-interval=0.2",
            "--lease-name=iap-operator-leader", "--lease-namespace=default",
            env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await w.create(protected())
            obj = await w.wait_ready(within=40)
            async with w.session.get(
                f"{w.kube_url}/apis/coordination.k8s.io/v1/namespaces/default/leases/iap-operator-leader"
            ) as resp:
                assert (await resp.json())["spec"]["holderIdentity"] == "operator-pod-1"
            text = await scrape(f"http://127.0.0.1:{port}/metrics")
            assert 'iap_operator_gcp_api_calls_total{code="200",method=' in text
            assert 'service="compute"' in text
            assert 'iap_operator_reconciles_total{result="success"}' in text
            assert "iap_operator_resources{" in text
        finally:
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), timeout=20)
            log.close()
        assert code == 0
        lines = [
            json.loads(x) for x in (tmp_path / "operator.log").read_text().splitlines() if x.startswith("{")
        ]
        assert lines, "JSON log lines expected"
        assert any(line.get("namespace") == "default" and line.get("name") == "hello" for line in lines)
        assert obj["status"]["url"] == "https://hello.example.com"
        async with w.session.get(
            f"{w.kube_url}/apis/coordination.k8s.io/v1/namespaces/default/leases/iap-operator-leader"
        ) as resp:
            assert not (await resp.json())["spec"].get("holderIdentity"), "released on shutdown"
