"""Reference models made by transformers 4.57.6 (``conformance/make_references.py``): checkpoints, inputs, outputs.

Each folder holds a tiny model's ``config.json`` and ``model.safetensors`` as
transformers' PyTorch class saved them, and ``outputs.npz`` with the inputs it
was run on (``input:*``) and what it computed (``output:*``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Reference", "REFERENCES", "reference"]

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Reference:
    name: str
    folder: Path

    @property
    def architecture(self) -> str:
        return json.loads((self.folder / "config.json").read_text())["architectures"][0]

    @property
    def tied(self) -> bool:
        return bool(json.loads((self.folder / "config.json").read_text()).get("tie_word_embeddings", True))

    def _arrays(self, prefix: str) -> dict[str, np.ndarray]:
        with np.load(self.folder / "outputs.npz") as data:
            return {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        return self._arrays("input:")

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        return self._arrays("output:")


#: the reference names, sorted
REFERENCES = sorted(p.name for p in HERE.iterdir() if (p / "outputs.npz").is_file())


def reference(name: str) -> Reference:
    return Reference(name, HERE / name)
