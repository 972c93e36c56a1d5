"""The write fence through the whole stack: a pass whose lease goes mid-way stops at its next write, as a
cancellation (no outcome, no status, no Event), with the real engine, adapters and clients against the
GCP emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor

import pytest

from iap_operator.api import parse_spec
from iap_operator.engine.identity import Identity
from iap_operator.engine.reconcile import Reconciler
from iap_operator.engine.settings import ProjectPolicy, Settings
from iap_operator.gcp.calls import WriteFenced
from iap_operator.gcp.cloud import build_cloud
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_sandbox.emulators.gcp.testing import EmulatorHandle, run_gcp_emulator

PROJECT, NUMBER, REGION = "demo-project", "123456789012", "us-central1"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
READS = (":getIamPolicy", "/wait")


class NoSecrets:
    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return None


class Gate:
    """Open for the first `allowed` writes, then closed (the lease is gone)."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.asked <= self.allowed


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorHandle]:
    seed = {
        "projects": [
            {
                "projectId": PROJECT,
                "projectNumber": NUMBER,
                "cloudRunServices": [{"name": "hello", "region": REGION}],
            }
        ]
    }
    async with run_gcp_emulator(seed=seed, latency={("compute", "*", "*"): 0.05}) as emu:
        yield emu


def writes(emu: EmulatorHandle) -> list[str]:
    return [
        f"{r['method']} {r['path']}"
        for r in emu.requests()
        if r["method"] in WRITES and not r["path"].endswith(READS)
    ]


async def test_a_lost_lease_cancels_the_pass_before_its_next_write(emulator: EmulatorHandle) -> None:
    gate = Gate(allowed=3)
    pool = ThreadPoolExecutor(max_workers=8)
    config = GcpConfig(endpoints=dict.fromkeys(SERVICES, emulator.url), anonymous=True, may_write=gate)
    settings = Settings(default_project=PROJECT, projects=ProjectPolicy.parse(f"default={PROJECT}"))
    reconciler = Reconciler(build_cloud(config, pool), NoSecrets(), settings)
    spec = parse_spec(
        {
            "projectId": PROJECT,
            "cloudRun": {"service": "hello", "region": REGION},
            "loadBalancer": {"domains": ["hello.example.com"]},
            "access": {"members": ["user:alice@example.com"]},
        }
    )
    try:
        with pytest.raises(WriteFenced):
            await reconciler.reconcile(Identity("default", "hello", "uid-1"), spec, None)
        sent = writes(emulator)
        assert len(sent) == 3, sent
        assert gate.asked > 3  # other steps reached a write too, and were refused
        engine = [t for t in asyncio.all_tasks() if "graph" in repr(t.get_coro()) and not t.done()]
        assert engine == []  # every step of the pass ended with it: nothing writes later
    finally:
        await asyncio.to_thread(pool.shutdown, wait=True)
