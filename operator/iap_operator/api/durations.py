"""Go-style duration strings (`10m`, `1h30m`, `1.5h`) as the Kubernetes CEL `duration()` reads them."""

from __future__ import annotations

import re
from decimal import Decimal

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; ValueError if it is not one (no sign, at least one unit)."""
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration such as 10m, 1h30m or 90s")
    return float(sum(Decimal(number) * _UNIT_SECONDS[unit] for number, unit in parts))
