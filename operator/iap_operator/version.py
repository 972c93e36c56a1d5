"""The operator's version: the package metadata's (pyproject.toml's `version`), the only place it is set."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "iap-operator"


def operator_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
