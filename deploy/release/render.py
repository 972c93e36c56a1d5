"""Render the one-file install: `make release-manifest` (or `python deploy/release/render.py`).

1. The version is pyproject.toml's (the only place it is set); it becomes the image tag of every
   kustomization that sets one (lines marked `# version`, and `newTag:` of the `iap-operator` image) and
   the `app.kubernetes.io/version` label of the release.
2. `kubectl kustomize deploy/release` renders everything into deploy/release/install.yaml.

`--check` changes nothing and exits 1 when a tag or install.yaml is stale (tests/deploy runs it).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RELEASE = REPO / "deploy" / "release"
INSTALL = RELEASE / "install.yaml"
TAGGED = (REPO / "deploy" / "base" / "kustomization.yaml", RELEASE / "kustomization.yaml")
_MARKED = re.compile(r'^(?P<head>\s*[\w./-]+:\s*)"?[^"\s#]+"?(?P<tail>\s*# version\s*)$', re.M)
_BASE_TAG = re.compile(r"(?P<head>- name: iap-operator\n\s+newTag:\s*)\"?[^\"\s#]+\"?", re.M)


def version() -> str:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def tagged(text: str, tag: str) -> str:
    """The kustomization with `tag` on its marked lines and on the iap-operator image."""
    text = _MARKED.sub(lambda m: f'{m["head"]}"{tag}"{m["tail"]}', text)
    return _BASE_TAG.sub(lambda m: f"{m['head']}{tag}", text)


def header(tag: str) -> str:
    return (
        f"# iap-operator {tag}: everything a cluster needs, in one file. Generated from deploy/release by\n"
        "# `make release-manifest`; do not edit. Install (set your Google service account first):\n"
        "#   sed 's/iap-operator@PROJECT_ID.iam.gserviceaccount.com/GSA_EMAIL/' install.yaml \\\n"
        "#     | kubectl apply --server-side -f -\n"
        "# then allow projects (docs/operations.md, Install).\n"
    )


def render(tag: str) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("render.py: needs kubectl (its built-in kustomize) on PATH")
    done = subprocess.run(  # noqa: S603 - kubectl from PATH, on this repository's folder
        [kubectl, "kustomize", str(RELEASE)], capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"kubectl kustomize deploy/release failed:\n{done.stderr}")
    return header(tag) + done.stdout


def same(current: str, fresh: str, tag: str) -> bool:
    """The same header and objects (kubectl versions format the same YAML differently)."""
    loaded = [list(yaml.safe_load_all(text)) for text in (current, fresh)]
    return current.startswith(header(tag)) and loaded[0] == loaded[1]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="report stale files, change nothing")
    args = p.parse_args(argv)
    tag = version()
    stale = [path for path in TAGGED if tagged(path.read_text(), tag) != path.read_text()]
    if args.check:
        # With a stale tag the render would be stale too; report the tags first.
        if not stale and (not INSTALL.exists() or not same(INSTALL.read_text(), render(tag), tag)):
            stale.append(INSTALL)
        for path in stale:
            print(f"stale: {path.relative_to(REPO)} (run `make release-manifest`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(tagged(path.read_text(), tag))
    INSTALL.write_text(render(tag))
    print(f"wrote {INSTALL.relative_to(REPO)} for iap-operator {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
