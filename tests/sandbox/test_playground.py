"""The live playground as a user drives it: `iap-operator sandbox --live` as a process, the README's
walkthroughs with real kubectl and gcloud in another "terminal", then Ctrl-C.

The shell commands below are the README's, verbatim (a test checks), so the README cannot drift from
what works. kubectl runs with its default validation where it validates (`apply` gets
`--validate=false` in the README: the emulated API serves no OpenAPI document yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.gcloud,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        shutil.which("kubectl") is None or shutil.which("gcloud") is None,
        reason="needs kubectl and gcloud on PATH",
    ),
]

LOOK = """\
kubectl get iaps
kubectl get iaps -o wide
"""
MEMBERS = """\
kubectl patch iaps hello --type=merge -p '{"spec":{"access":{"members":["user:bob@example.com"]}}}'
G=$(kubectl get iaps hello -o jsonpath='{.metadata.generation}')
kubectl wait iaps/hello --for=jsonpath='{.status.observedGeneration}'="$G"
kubectl wait iaps/hello --for=condition=Ready
BS=$(kubectl get iaps hello -o jsonpath='{.status.backendService.name}')
gcloud iap web get-iam-policy --resource-type=backend-services --service="$BS"
"""
BREAK = """\
BS=$(kubectl get iaps hello -o jsonpath='{.status.backendService.name}')
gcloud compute backend-services update "$BS" --global --iap=disabled
"""
STATUS = ".venv/bin/iap-operator status hello"
REPAIR_NOW = """\
kubectl annotate iaps/hello reconcile.iap-operator.dev/requested-at="$(date -u +%FT%TZ)" --overwrite
"""
WATCH_REPAIR = (
    "kubectl get events --field-selector involvedObject.name=hello,reason=DriftRepaired "
    "-o custom-columns=REASON:.reason,MESSAGE:.message -w"
)
REPAIRED = """\
gcloud compute backend-services describe "$BS" --global --format='value(iap.enabled)'
"""
YOURS = """\
kubectl apply --validate=false -f - <<'EOF'
apiVersion: iap-operator.dev/v1alpha1
kind: IapProtectedService
metadata: {name: mine}
spec:
  projectId: demo-project
  mode: Direct
  cloudRun: {service: mine, region: europe-west1}
  access: {members: ["user:me@example.com"]}
EOF
kubectl wait iaps/mine --for=condition=Ready
"""
DELETE = """\
kubectl delete iaps hello
gcloud compute forwarding-rules list --global --format='value(name)'
"""
ABANDON = """\
kubectl delete iaps wiki
gcloud compute forwarding-rules list --global --filter='name~wiki' --format='value(name)'
"""
BLOCKS = (LOOK, MEMBERS, BREAK, STATUS, REPAIR_NOW, WATCH_REPAIR, REPAIRED, YOURS, DELETE, ABANDON)


def test_the_readme_holds_these_walkthroughs_verbatim() -> None:
    for block in BLOCKS:
        for line in block.strip().splitlines():
            assert line in README, f"README.md lacks: {line}"
    assert "make run" in README.split("---", 1)[0], "the first screen keeps `make run`"


class Playground:
    """`iap-operator sandbox --live` as a process, and a shell pointed at it by its export lines."""

    def __init__(self, proc: asyncio.subprocess.Process, home: Path) -> None:
        self.proc, self.home = proc, home
        self.printed: list[str] = []
        self.env: dict[str, str] = {}

    async def line(self, within: float = 60) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), within)
        assert raw, "the sandbox exited early:\n" + "\n".join(self.printed)
        text = raw.decode().rstrip("\n")
        self.printed.append(text)
        return text

    async def until_exports(self) -> None:
        """The two export lines it prints are all a user's shell needs."""
        while len(self.env) < 2:
            if match := re.fullmatch(r"\s*export (KUBECONFIG|CLOUDSDK_CONFIG)=(\S+)", await self.line()):
                self.env[match.group(1)] = match.group(2)

    def shell_env(self) -> Mapping[str, str]:
        return {"PATH": os.environ["PATH"], "HOME": str(self.home), **self.env}

    async def sh(self, script: str, within: float = 60) -> str:
        """Run a README block in bash (errors stop it), as the user would paste it."""
        proc = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", script, env=self.shell_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), within)
        assert proc.returncode == 0, f"{script}\nfailed:\n{err.decode()}\n{out.decode()}"
        return out.decode()

    @contextlib.asynccontextmanager
    async def watching(self, command: str) -> AsyncIterator[asyncio.StreamReader]:
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", command, env=self.shell_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            yield proc.stdout
        finally:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def playground(tmp_path: Path) -> AsyncIterator[Playground]:
    (tmp_path / "home").mkdir()
    errors = (tmp_path / "stderr.txt").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "iap_operator", "sandbox", "-f", str(REPO / "examples"), "--live",
        "--dir", str(tmp_path / "sandbox"), "--resync", "3600",  # only the walkthrough repairs drift
        stdout=asyncio.subprocess.PIPE, stderr=errors, cwd=tmp_path,
    )  # fmt: skip
    try:
        yield Playground(proc, tmp_path / "home")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        errors.close()


async def until_line(stream: asyncio.StreamReader, pattern: str, within: float = 60) -> str:
    async with asyncio.timeout(within):
        while raw := await stream.readline():
            if re.search(pattern, raw.decode()):
                return raw.decode()
    raise AssertionError(f"the stream ended before {pattern!r}")


async def test_walkthrough_with_kubectl_and_gcloud_then_ctrl_c(tmp_path: Path) -> None:
    async with playground(tmp_path) as play:
        await play.until_exports()
        await play.sh("kubectl wait iaps --all --for=condition=Ready --timeout=60s", within=90)

        table, wide = (await play.sh(LOOK)).split("NAME")[1:]
        assert re.search(r"READY\s+REASON\s+MODE\s+ADDRESS\s+URL\s+AGE\s*\n", table)
        assert "MESSAGE" not in table
        assert re.search(
            r"\nhello\s+True\s+UpToDate\s+LoadBalancer\s+\d+\.\d+\.\d+\.\d+\s+https://hello", table
        )
        assert "AGE   MESSAGE" in wide
        assert "the Cloud Run service is reachable only through IAP" in wide

        policy = await play.sh(MEMBERS)
        assert "user:bob@example.com" in policy
        assert "user:alice@example.com" not in policy  # removed from the spec: revoked

        await play.sh(BREAK)
        # env.sh: the two exports, and the variables that point `iap-operator status` at the emulator
        command = STATUS.replace(".venv/bin/iap-operator", str(Path(sys.executable).parent / "iap-operator"))
        trace = await play.sh(f"source {tmp_path / 'sandbox' / 'env.sh'}\n{command}")
        assert re.search(r"BackendService \S+\s+DRIFT\s+IAP OFF", trace), trace
        async with play.watching(WATCH_REPAIR) as events:
            await play.sh(REPAIR_NOW)
            await until_line(events, r"DriftRepaired")
        assert (await play.sh(BREAK.splitlines()[0] + "\n" + REPAIRED)).strip() == "True"

        await play.sh(YOURS)  # the sandbox creates the Cloud Run service a new resource names

        rules = [r for r in (await play.sh(DELETE)).split() if r.startswith("iaps-")]
        assert rules
        assert not [r for r in rules if "-hello-" in r], "hello's forwarding rules are deleted"
        kept = [r for r in (await play.sh(ABANDON)).split() if r.startswith("iaps-")]
        assert len(kept) == 2, "deletionPolicy: Abandon leaves wiki's forwarding rules in place"

        play.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert await asyncio.wait_for(play.proc.wait(), 30) == 0
        assert play.proc.stdout is not None
        rest = (await play.proc.stdout.read()).decode()
    printed = "\n".join(play.printed) + rest
    assert rest.rstrip().endswith("stopped"), rest
    errors = (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in errors + printed
    for noise in ("OS signals are ignored", "Connector is closed", '"status":'):
        assert noise not in errors + printed, noise
    assert "operator log" in printed
    log = (tmp_path / "sandbox" / "operator.log").read_text()
    assert "iap-operator" in log
    assert "starting" in log  # the banner
