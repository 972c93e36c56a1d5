"""Reading Kubernetes manifests (YAML, multi-document) and writing kubeconfig files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


def load_manifests(path: str | Path) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML file (List kinds unfolded into their items)."""
    with Path(path).open(encoding="utf-8") as stream:
        documents = [doc for doc in yaml.safe_load_all(stream) if doc]
    result: list[dict[str, Any]] = []
    for doc in documents:
        if str(doc.get("kind", "")).endswith("List") and "items" in doc:
            result.extend(doc["items"])
        else:
            result.append(doc)
    return result


def kubeconfig(url: str, namespace: str = "default", context: str = "iap-emulator") -> dict[str, Any]:
    """A kubeconfig for the emulated API (plain HTTP, no credentials: it accepts every request)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}
        ],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path: str | Path, url: str, namespace: str = "default") -> Path:
    """Write a kubeconfig for `url` to `path` (kubectl, the `kubernetes` client, kopf's kubeconfig login)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig(url, namespace), sort_keys=False), encoding="utf-8")
    return target


def crd_documents(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    return [doc for path in paths for doc in load_manifests(path)]
