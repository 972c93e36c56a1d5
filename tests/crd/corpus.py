"""The manifest corpus: tests/crd/valid/*.yaml and tests/crd/invalid/*.yaml.

An invalid manifest carries annotations saying what must be refused:
  test.iap-operator.dev/expect-field:  the field path a cause must name (e.g. spec.cloudRun.region)
  test.iap-operator.dev/expect-reason: the cause's reason (e.g. FieldValueRequired)
  test.iap-operator.dev/model-skip:    why the pydantic model cannot see it (transition rules, metadata)
A file with two YAML documents is an update: the stored object first, then the refused new one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
ANNOTATION = "test.iap-operator.dev/"


@dataclass(frozen=True)
class Case:
    name: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None

    def annotation(self, key: str) -> str | None:
        value = (self.obj.get("metadata", {}).get("annotations") or {}).get(ANNOTATION + key)
        return None if value is None else str(value)

    @property
    def expect_field(self) -> str:
        field = self.annotation("expect-field")
        assert field, f"{self.name}: an invalid manifest must name the field it breaks"
        return field

    @property
    def expect_reason(self) -> str | None:
        return self.annotation("expect-reason")

    @property
    def model_skip(self) -> str | None:
        return self.annotation("model-skip")

    def copy(self) -> dict[str, Any]:
        return copy.deepcopy(self.obj)


def _load(path: Path) -> Case:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert len(docs) in (1, 2), f"{path}: one manifest, or the stored one and its update"
    return Case(path.stem, docs[-1], docs[0] if len(docs) == 2 else None)


def load(kind: str) -> list[Case]:
    return [_load(path) for path in sorted((HERE / kind).glob("*.yaml"))]


VALID = load("valid")
INVALID = load("invalid")
