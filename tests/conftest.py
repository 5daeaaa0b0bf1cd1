"""Shared fixtures of the core's tests (numpy only: no framework is imported here).

The local Hub server starts here, at import, because huggingface_hub reads
HF_ENDPOINT and the other HF_* variables once, when it is first imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelport_conformance.hub import OTHER_TEST_TOKEN, TEST_TOKEN, start_test_hub, stop_test_hub

assert "huggingface_hub" not in sys.modules, "huggingface_hub was imported before the test Hub settings were made"
TOKEN = TEST_TOKEN
OTHER_TOKEN = OTHER_TEST_TOKEN
HUB = start_test_hub()

from _support.golden import GOLDEN  # noqa: E402 - after the Hub settings


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_test_hub()  # the server, its storage and the HF_HOME it made


@pytest.fixture(scope="session")
def golden() -> Path:
    """The folder of checkpoints written by transformers 4.57.6 (see tests/golden/make_golden.py)."""
    return GOLDEN


@pytest.fixture(scope="session")
def embedded():
    """The embedded all-MiniLM-L6-v2 checkpoint folder, or a skip if the package is absent."""
    from modelport.embedded import embedded_checkpoint
    from modelport.errors import CheckpointNotFoundError

    try:
        return embedded_checkpoint()
    except CheckpointNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def hub():
    """The session's local Hub server, with its request log and faults cleared for this test."""
    HUB.clear_log()
    HUB.faults.clear()
    yield HUB
    HUB.faults.clear()
    HUB.page_size = 1000
