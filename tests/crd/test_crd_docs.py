"""docs/resource.md documents every field of the CRD and every example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .test_crd_examples import EXAMPLES
from .test_crd_schema import walk

DOC = Path(__file__).resolve().parents[2] / "docs" / "resource.md"


def test_every_field_is_documented(schema: dict[str, Any]) -> None:
    text = DOC.read_text()
    fields = [
        path for path, _ in walk(schema) if path.startswith(("spec.", "status.")) and not path.endswith("[]")
    ]
    assert len(fields) > 40
    missing = []
    for path in fields:
        leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
        spec_path = path.removeprefix("spec.").replace("[]", "")
        if f"`{spec_path}`" not in text and f"`{leaf}`" not in text and f"`{leaf}[]`" not in text:
            missing.append(path)
    assert missing == []


def test_every_example_is_listed() -> None:
    text = DOC.read_text()
    assert [p.name for p in sorted(EXAMPLES.glob("*.yaml")) if f"`{p.name}`" not in text] == []
