"""Reading rendered manifests as the kubelet would: the operator container's environment, resolved."""

from __future__ import annotations

from typing import Any


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = find(objects, "Deployment", "iap-operator")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert isinstance(container, dict)
    return container


def resolved_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The container's variables with literal values or ConfigMap keys (absent optional keys: unset).

    A configMapKeyRef must name a ConfigMap of the same render (in the Deployment's namespace) and a
    key it holds unless `optional`: what the kubelet needs to start the container.
    """
    deployment = find(objects, "Deployment", "iap-operator")
    namespace = deployment["metadata"]["namespace"]
    maps = {
        o["metadata"]["name"]: o.get("data") or {}
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"].get("namespace") == namespace
    }
    env: dict[str, str] = {}
    for item in operator_container(objects)["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = (item.get("valueFrom") or {}).get("configMapKeyRef")
        if ref is None:
            continue  # fieldRef: the pod's own name or namespace
        assert ref["name"] in maps, f"{item['name']}: ConfigMap {ref['name']} is not in the render"
        data = maps[ref["name"]]
        if ref["key"] in data:
            env[item["name"]] = data[ref["key"]]
        else:
            assert ref.get("optional"), f"{item['name']}: key {ref['key']} missing from {ref['name']}"
    return env
