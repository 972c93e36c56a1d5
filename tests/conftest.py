"""Session-wide: every JSON body any GCP emulator returns in any test must match Google's discovery
documents (the response schema of its method; Google's error envelope for errors)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iap_sandbox.emulators.gcp.conformance import ResponseRecorder


@pytest.fixture(autouse=True)
def gcp_conformance() -> Iterator[ResponseRecorder]:
    with ResponseRecorder() as recorder:
        yield recorder
    violations = recorder.violations()
    assert not violations, "\n".join(map(str, violations[:20]))
