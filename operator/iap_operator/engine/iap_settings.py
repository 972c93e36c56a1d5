"""IAP settings (IAP v1 `iapSettings`) the spec declares: the field-mask paths, and which differ.

Only declared fields are managed: the update mask names exactly the paths the spec sets, so settings
nobody declared keep whatever they hold (someone else's, or Google's defaults). A path is a leaf of the
settings message, except `accessSettings.reauthSettings`, which Google requires to be written whole
("All IAP reauth settings must always be set together, using the field mask:
iapSettings.accessSettings.reauthSettings", the updateIapSettings reference and discovery document).
Lists are leaves too (a mask path names the whole repeated field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iap_operator.engine.outcome import Event
from iap_operator.engine.ports import IapSettingsPort

# Messages written as one path (every field of them together).
WHOLE = frozenset({"accessSettings.reauthSettings"})


def leaves(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{dotted path: value} of the declared settings (nested messages flattened, but WHOLE ones)."""
    out: dict[str, Any] = {}
    for name, value in settings.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and path not in WHOLE:
            out.update(leaves(value, f"{path}."))
        else:
            out[path] = value
    return out


def value_at(settings: Mapping[str, Any], path: str) -> Any:
    node: Any = settings
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def differing(declared: Mapping[str, Any], observed: Mapping[str, Any]) -> tuple[str, ...]:
    """The declared paths whose observed value differs (a missing list reads as empty, as in proto3)."""
    wanted = leaves(declared)
    changed = []
    for path, want in wanted.items():
        have = value_at(observed, path)
        if isinstance(want, list) and have is None:
            have = []
        if have != want:
            changed.append(path)
    return tuple(sorted(changed))


async def apply(
    port: IapSettingsPort, resource: str, declared: Mapping[str, Any], *, drift: bool
) -> tuple[tuple[str, ...], list[Event]]:
    """Read the settings; write the declared paths that differ (one update, masked to them).
    Returns the paths written (none when up to date: a second pass does no write) and the Events."""
    if not declared:
        return (), []
    observed = await port.get(resource)
    changed = differing(declared, observed)
    if not changed:
        return (), []
    await port.update(resource, declared, changed)
    what = ", ".join(changed)
    message = f"{'repaired drift: ' if drift else ''}set IAP settings {what} on {resource}"
    reason = "DriftRepaired" if drift else "Updated"
    return changed, [Event(reason, message, warning=drift, kind="IapSettings")]
