"""Runs deploy/argocd/health.lua the way Argo CD does: `obj` is the resource, the script returns `hs`.

Reusable: `argocd_health(obj)` for any IapProtectedService body, hand-written or produced by the operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lupa.lua51 import LuaRuntime  # Argo CD embeds gopher-lua, a Lua 5.1

HEALTH_LUA = Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "health.lua"
ARGOCD_STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})


def _without_nulls(value: Any) -> Any:
    # Argo CD decodes JSON into Lua tables, where a null is an absent key.
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_without_nulls(item) for item in value if item is not None]
    return value


def argocd_health(obj: Mapping[str, Any], script: str | None = None) -> tuple[str, str]:
    """(health status, message) that Argo CD would show for `obj`."""
    lua = LuaRuntime(register_eval=False, register_builtins=False)
    lua.globals().obj = lua.table_from(_without_nulls(obj), recursive=True)
    hs = lua.execute(script if script is not None else HEALTH_LUA.read_text())
    status, message = hs["status"], hs["message"]
    if status not in ARGOCD_STATUSES:
        raise AssertionError(f"health.lua returned status {status!r}, not one Argo CD knows")
    return str(status), "" if message is None else str(message)
