"""Conformance: every JSON body the emulator sends during this folder's tests must match the response
schema of its method in Google's discovery documents (see iap_sandbox.emulators.gcp.conformance).

The session-scoped recorder below collects every response of every test in this folder and checks them
all at the end; `broad_recorder` gives a single test its own recorder. Other test folders can reuse the
same check with `ResponseRecorder` (as tests/gcp_emulator/{run,iap,...}/conftest.py do per test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iap_sandbox.emulators.gcp.conformance import ResponseRecorder


@pytest.fixture(scope="session", autouse=True)
def session_responses() -> Iterator[ResponseRecorder]:
    with ResponseRecorder() as recorder:
        yield recorder
    problems = recorder.violations()
    assert not problems, "\n".join(map(str, problems))


@pytest.fixture
def broad_recorder() -> Iterator[ResponseRecorder]:
    with ResponseRecorder() as recorder:
        yield recorder
