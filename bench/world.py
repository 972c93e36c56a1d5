"""Both emulators and the real operator in this event loop, for one benchmark run."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from iap_operator.wiring.config import Config
from iap_sandbox.emulators.gcp.operations import LatencyProfile
from iap_sandbox.emulators.gcp.testing import EmulatorHandle
from iap_sandbox.sandbox import emulators, operator_thread

GROUP, VERSION, PLURAL = "iap-operator.dev", "v1alpha1", "iapprotectedservices"
PROJECT, NUMBER, REGION = "demo-project", "123456789012", "us-central1"
MULTI_REGIONS = (REGION, "europe-west1", "asia-northeast1")
SEED: dict[str, Any] = {
    "projects": [
        {
            "projectId": PROJECT,
            "projectNumber": NUMBER,
            "cloudRunServices": [
                {"name": "hello", "region": REGION},
                *({"name": "atlas", "region": r} for r in MULTI_REGIONS),
            ],
        }
    ],
    # The DNS records the operator asks for: the managed certificate turns ACTIVE once they resolve.
    "dns": {"hello.example.com": "auto", "atlas.example.com": "auto"},
}
# LoadBalancer mode (the default) with one domain; httpsRedirect is left to its default (true).
RESOURCE: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "IapProtectedService",
    "metadata": {"name": "hello", "namespace": "default"},
    "spec": {
        "projectId": PROJECT,
        "cloudRun": {"service": "hello", "region": REGION},
        "loadBalancer": {"domains": ["hello.example.com"]},
        "access": {"members": ["user:alice@example.com", "group:devs@example.com"]},
    },
}

# The same, for one service deployed in three regions (cloudRun.regions): a NEG per region.
MULTI_REGION_RESOURCE: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "IapProtectedService",
    "metadata": {"name": "atlas", "namespace": "default"},
    "spec": {
        "projectId": PROJECT,
        "cloudRun": {"service": "atlas", "regions": list(MULTI_REGIONS)},
        "loadBalancer": {"domains": ["atlas.example.com"]},
        "access": {"members": ["user:alice@example.com", "group:devs@example.com"]},
    },
}


@dataclass(frozen=True)
class OperatorKnobs:
    """The operator's timing configuration for a run (the rest are the operator's defaults)."""

    poll_interval: float
    resync_override: float
    resync_tick: float
    missing_retry: float = 0.2
    backoff_base: float = 0.05
    backoff_max: float = 0.5


@dataclass(frozen=True)
class Running:
    gcp: EmulatorHandle
    kube_url: str
    session: aiohttp.ClientSession
    config: Config

    @property
    def collection(self) -> str:
        return f"{self.kube_url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        async with self.session.post(self.collection, json=body) as resp:
            data: dict[str, Any] = await resp.json(content_type=None)
            if resp.status not in {200, 201}:
                raise RuntimeError(f"create failed ({resp.status}): {data}")
            return data


@contextlib.asynccontextmanager
async def running(
    scale: float, knobs: OperatorKnobs, settings: Mapping[str, Any] | None = None
) -> AsyncIterator[Running]:
    """Emulators with the realistic profile times `scale`, and the operator started (and stopped after)."""
    profile = LatencyProfile.named("realistic", scale)
    with tempfile.TemporaryDirectory(prefix="iap-bench-") as tmp:
        async with (
            emulators(Path(tmp) / "kubeconfig", SEED, latency=profile, settings=settings) as emu,
            aiohttp.ClientSession() as session,
        ):
            os.environ["KUBECONFIG"] = str(emu.kubeconfig)  # kopf's login reads it
            config = emu.config(
                default_project=PROJECT,
                allowed_projects=f"default={PROJECT}",
                poll_interval=knobs.poll_interval,
                missing_retry=knobs.missing_retry,
                backoff_base=knobs.backoff_base,
                backoff_max=knobs.backoff_max,
                resync_tick=knobs.resync_tick,
                resync_override=knobs.resync_override,
            )
            async with operator_thread(config):  # its own thread and loop, as in its own process
                yield Running(emu.gcp, emu.kube.url, session, config)
