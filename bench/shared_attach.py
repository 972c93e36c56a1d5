"""Shared-balancer benchmark, host-rule stage: N services attaching to one URL map at once.

    python bench/shared_attach.py [--scale S] [--counts 1,10,50] [--out bench/shared_attach.json]

What it measures (docs/shared-balancer.md): N concurrent `engine.host_rules.attach` calls through the
product's URL map adapter (real google-cloud-compute client, real HTTP) against the GCP emulator with
its realistic latencies times --scale (a URL-map operation takes 10 realistic seconds). Each attach
reads the map, computes its edit and writes it with the fingerprint; a stale fingerprint (412) or a map
still busy with the previous operation (400 resourceNotReady) sends it back to read again. Figures per
N, in realistic seconds: time until all N host rules are in, URL-map writes per attach (successful,
412, 400), and how many attaches gave up (raised). Two modes: `independent` (every attach its own
read-modify-write) and `batched` (`host_rules.Batcher`: one writer per URL map per process, everyone
queued while a write runs goes into the next one).

Not measured yet: apply-to-Ready of N IapProtectedServices attaching through the operator (the attach
topology is not wired into the operator: see docs/shared-balancer.md); this is the stage that is new,
and the one every attach of a shared balancer serializes on.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from iap_operator.engine import host_rules, urlmap_rules
from iap_operator.engine.identity import Owner, Ownership
from iap_operator.engine.resources import BackendService, IapSettings, Key, Kind, Neg, UrlMap
from iap_operator.gcp.cloud import build_cloud
from iap_operator.gcp.config import SERVICES, GcpConfig
from iap_sandbox.emulators.gcp.operations import LatencyProfile
from iap_sandbox.emulators.gcp.testing import run_gcp_emulator

PROJECT, NUMBER, REGION = "demo-project", "123456789012", "us-central1"
SEED: dict[str, Any] = {
    "projects": [
        {
            "projectId": PROJECT,
            "projectNumber": NUMBER,
            "cloudRunServices": [{"name": "hello", "region": REGION}],
        }
    ]
}
MARKS = Ownership.fresh(Owner(cluster="bench", namespace="platform", name="tools")).marks()


def attachment(index: int, backend: str) -> urlmap_rules.Attachment:
    name = f"svc{index}"
    return urlmap_rules.Attachment(
        owner_id=hashlib.sha256(name.encode()).hexdigest()[:16],
        owner_text=f"bench/team-{index % 2}/{name}",
        matcher=f"pm-{name}",
        hosts=(f"{name}.tools.example.com",),
        service=backend,
    )


async def one_run(count: int, scale: float, mode: str) -> dict[str, Any]:
    profile = LatencyProfile.named("realistic", scale)
    pool = ThreadPoolExecutor(max_workers=max(8, count), thread_name_prefix="bench-gcp")
    async with run_gcp_emulator(seed=SEED, latency=profile) as emu:
        config = GcpConfig(
            endpoints=dict.fromkeys(SERVICES, emu.url),
            anonymous=True,
            timeout=600 * scale + 10,
            operation_timeout=600 * scale + 10,
            on_call=lambda *_: None,
        )
        cloud = build_cloud(config, pool)
        port = cloud.url_map_rules
        assert port is not None
        neg = Neg(Key(Kind.NEG, "neg-shared", REGION), "hello")
        await cloud.negs.create(PROJECT, neg, MARKS)
        bs = BackendService(Key(Kind.BACKEND_SERVICE, "bs-shared"), backends=(neg.key.path(PROJECT),))
        bs = BackendService(bs.key, backends=bs.backends, iap=IapSettings(enabled=True))
        await cloud.backend_services.create(PROJECT, bs, MARKS)
        await cloud.url_maps.create(
            PROJECT, UrlMap(Key(Kind.URL_MAP, "um-shared"), default_service=bs.key.path(PROJECT)), MARKS
        )
        before = len(emu.requests())
        attachments = [attachment(i, bs.key.path(PROJECT)) for i in range(count)]
        start = time.monotonic()
        if mode == "batched":
            batcher = host_rules.Batcher(port)
            calls = [batcher.attach(PROJECT, "um-shared", a) for a in attachments]
        else:
            calls = [host_rules.attach(port, PROJECT, "um-shared", a) for a in attachments]
        results = await asyncio.gather(*calls, return_exceptions=True)
        elapsed = time.monotonic() - start
        final = await port.read_rules(PROJECT, "um-shared")
        assert final is not None
        attached = sum(urlmap_rules.up_to_date(final, a) for a in attachments)
        statuses = [
            r.get("status")
            for r in emu.requests()[before:]
            if r["method"] == "PUT" and r["path"].endswith("/urlMaps/um-shared")
        ]
    await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    return {
        "mode": mode,
        "n": count,
        "all_attached_realistic_s": round(elapsed / scale, 1),
        "attached": attached,
        "gave_up": len(failed),
        "url_map_writes_per_attach": {
            "ok": round(statuses.count(200) / count, 2),
            "412_stale_fingerprint": round(statuses.count(412) / count, 2),
            "400_not_ready": round(statuses.count(400) / count, 2),
        },
        "errors": sorted({str(f)[:160] for f in failed}),
    }


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(c) for c in args.counts.split(",")]
    figures = [await one_run(count, args.scale, mode) for mode in args.modes.split(",") for count in counts]
    return {
        "benchmark": "shared balancer, host-rule stage: N concurrent attaches to one URL map",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "latency_profile": "realistic (iap_sandbox/emulators/gcp/operations.py; URL map operations 10 s)",
        "attempts_per_attach": host_rules.ATTEMPTS,
        "figures": figures,
    }


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=0.01, help="latency scale (default 0.01)")
    p.add_argument("--counts", default="1,10,50", help="attaching services per run (default 1,10,50)")
    p.add_argument(
        "--modes",
        default="independent,batched",
        help="independent: each attach reads and writes on its own; batched: one writer per map (Batcher)",
    )
    p.add_argument("--out", default="bench/shared_attach.json", help="where to write the JSON")
    args = p.parse_args(list(argv))
    result = asyncio.run(benchmark(args))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["figures"], indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
