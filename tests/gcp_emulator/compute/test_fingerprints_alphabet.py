"""Fingerprints are bytes: the URL-safe base64 form gcloud sends is the same fingerprint."""

from __future__ import annotations

import pytest

from iap_sandbox.emulators.gcp.compute.crud import same_fingerprint


@pytest.mark.parametrize(
    ("given", "current", "same"),
    [
        ("rDW+XB9mYS0=", "rDW+XB9mYS0=", True),
        ("rDW-XB9mYS0=", "rDW+XB9mYS0=", True),  # gcloud's alphabet
        ("ab_/cd==", "ab//cd==", True),
        ("sDW-XB9mYS0=", "rDW+XB9mYS0=", False),
        ("not base64!", "rDW+XB9mYS0=", False),
        (None, "rDW+XB9mYS0=", False),
    ],
)
def test_same_fingerprint(given: object, current: str, same: bool) -> None:
    assert same_fingerprint(given, current) is same
