"""The Dockerfile, read as text (no Docker engine here): the properties the Deployment relies on."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass

import pytest

from .conftest import REPO

PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True)
class Stage:
    image: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def parse_instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    return instructions


def parse_stages(text: str) -> list[Stage]:
    """Stages with FROM resolved through the ARGs declared before the first FROM."""
    args: dict[str, str] = {}
    stages: list[tuple[str, str | None, list[Instruction]]] = []
    for instruction in parse_instructions(text):
        if instruction.keyword == "ARG" and not stages:
            name, _, default = instruction.args.partition("=")
            args[name] = default
        elif instruction.keyword == "FROM":
            image, *alias = instruction.args.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], image)
            stages.append((image, alias[1] if alias else None, []))
        else:
            assert stages, f"{instruction.keyword} before FROM"
            stages[-1][2].append(instruction)
    return [Stage(image, name, tuple(instructions)) for image, name, instructions in stages]


def in_context(path: str, dockerignore: str) -> bool:
    """Whether `path` reaches the build context: the last matching pattern wins, `!` re-includes."""
    included = True
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in dockerignore.splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        variants = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(candidate, p) for candidate in candidates for p in variants):
            included = negate
    return included


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages((REPO / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_multi_stage_on_a_pinned_python_311_slim_base(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert PINNED_PYTHON.match(stage.image), stage.image
    assert stages[0].name == "builder"


def test_dependencies_come_from_the_project_metadata(stages: list[Stage]) -> None:
    builder_runs = " ".join(stages[0].all("RUN"))
    assert re.search(r"pip (wheel|install)\b[^&]* \.(\s|$)", builder_runs), builder_runs
    assert "requirements" not in (REPO / "Dockerfile").read_text().lower()
    assert not list(REPO.glob("requirements*.txt"))


def test_final_stage_runs_as_numeric_non_root(final: Stage) -> None:
    (user,) = final.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)


def test_final_stage_never_writes_bytecode(final: Stage) -> None:
    env = " ".join(final.all("ENV"))
    assert re.search(r"\bPYTHONDONTWRITEBYTECODE=1\b", env)
    assert re.search(r"\bHOME=/tmp\b", env)


def test_final_stage_copies_the_built_venv_only(final: Stage) -> None:
    copies = final.all("COPY")
    assert copies
    assert all(copy.startswith("--from=builder ") for copy in copies)
    assert not any("pip" in run for run in final.all("RUN"))


def test_entrypoint_is_iap_operator_run_in_exec_form(final: Stage) -> None:
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["iap-operator", "run"]
    assert not final.all("CMD")


def test_exposed_ports_match_the_deployment(final: Stage) -> None:
    assert set(" ".join(final.all("EXPOSE")).split()) == {"8080", "9090"}


def test_build_context_holds_what_is_copied_and_nothing_else(stages: list[Stage]) -> None:
    dockerignore = (REPO / ".dockerignore").read_text()
    sources = [
        part for copy in stages[0].all("COPY") if not copy.startswith("--from") for part in copy.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert in_context(source.rstrip("/"), dockerignore), source
    assert in_context("operator/iap_operator/cli.py", dockerignore)
    for kept_out in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/deploy/conftest.py",
        "deploy/base/kustomization.yaml",
    ):
        assert not in_context(kept_out, dockerignore), kept_out
    assert not in_context("operator/iap_operator/__pycache__/cli.cpython-311.pyc", dockerignore)
