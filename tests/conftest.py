"""Shared fixtures of the core's tests (numpy only: no framework is imported here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "data"
ARCHS = ("bert", "bert-mlm", "gpt2")


def golden_manifest() -> dict:
    return json.loads((GOLDEN / "manifest.json").read_text())


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
