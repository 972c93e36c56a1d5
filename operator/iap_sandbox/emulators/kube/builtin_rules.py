"""What kube-apiserver does to built-in kinds on write, where clients rely on it."""

from __future__ import annotations

import base64
from typing import Any

from .kinds import KindInfo


def normalize(info: KindInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """Secrets: `stringData` is merged into `data` (base64) and dropped; `type` defaults to Opaque."""
    if (info.group, info.kind) == ("", "Secret"):
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            encoded = {
                key: base64.b64encode(str(value).encode()).decode() for key, value in string_data.items()
            }
            obj["data"] = {**(obj.get("data") or {}), **encoded}
        obj.setdefault("type", "Opaque")
    return obj
