"""The TF adapter's tests share the session's local Hub server (started before huggingface_hub is imported)."""

from __future__ import annotations

import pytest

from modelport_conformance.hub import start_test_hub

HUB = start_test_hub()


@pytest.fixture
def hub():
    HUB.clear_log()
    HUB.faults.clear()
    yield HUB
    HUB.faults.clear()
