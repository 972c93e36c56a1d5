"""Reading Kubernetes manifests (YAML, multi-document) and writing kubeconfig files."""

from __future__ import annotations

import base64
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


def kubeconfig(
    url: str,
    namespace: str = "default",
    context: str = "iap-emulator",
    token: str | None = None,
    ca_pem: bytes | None = None,
) -> dict[str, Any]:
    """A kubeconfig for the emulated API (plain HTTP; HTTPS and a bearer token when RBAC is enforced)."""
    cluster: dict[str, Any] = {"server": url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": {"token": token} if token else {}}],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}
        ],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(
    path: str | Path,
    url: str,
    namespace: str = "default",
    token: str | None = None,
    ca_pem: bytes | None = None,
) -> Path:
    """Write a kubeconfig for `url` to `path` (kubectl, the `kubernetes` client, kopf's kubeconfig login)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = kubeconfig(url, namespace, token=token, ca_pem=ca_pem)
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


def crd_documents(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    return [doc for path in paths for doc in load_manifests(path)]
