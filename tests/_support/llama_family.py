"""The Llama-family golden data (``tests/golden/make_llama_golden.py``), shared by the three adapters' tests."""

from __future__ import annotations

import json

import numpy as np

from .golden import GOLDEN

FOLDER = GOLDEN / "llama-family"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())
CASES = list(MANIFEST["cases"])
TOLERANCE = 1e-5  # max absolute difference, float32


def loads(*prefixes: str) -> list[tuple[str, str]]:
    """(case, folder) for every float32 save whose folder starts with one of ``prefixes`` (all when none)."""
    return [(case, folder) for case in CASES for folder in MANIFEST["cases"][case]["folders"]
            if folder.startswith(prefixes or ("",)) and not folder.endswith("bf16")]


def inputs(case: str) -> dict[str, np.ndarray]:
    return dict(np.load(FOLDER / case / "inputs.npz"))


def outputs(case: str, name: str = "outputs-pt") -> np.lib.npyio.NpzFile:
    """transformers' PyTorch outputs: the reference for every framework's load (its TF and Flax classes have quirks)."""
    return np.load(FOLDER / case / f"{name}.npz")


def max_diff(got: np.ndarray, expected: np.ndarray, mask: np.ndarray) -> float:
    """The largest difference at positions that are not left padding (no later position reads those)."""
    keep = mask.astype(bool) if got.ndim >= 2 and got.shape[:2] == mask.shape else slice(None)
    return float(np.abs(np.asarray(got, dtype=np.float32)[keep] - expected[keep]).max())
