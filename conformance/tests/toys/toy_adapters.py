"""Deliberately broken adapters: the conformance suite must catch each one (see test_suite_has_teeth.py).

Each is the real PyTorch adapter with one fault, so everything else about it passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport import adapters
from modelport_torch.adapter import TorchAdapter


class UpcastsBfloat16(TorchAdapter):
    """Hands bfloat16 tensors to the core as float32 (a silent upcast)."""

    name = "toy-upcast"

    def to_numpy(self, tensor: Any) -> np.ndarray:
        array = super().to_numpy(tensor)
        return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


class DropsATensor(TorchAdapter):
    """Loses the last tensor when saving."""

    name = "toy-drop"

    def save_state(self, tensors: dict[str, Any], folder: Any, **kwargs: Any) -> None:
        super().save_state(dict(list(tensors.items())[:-1]), folder, **kwargs)


class IgnoresMaxShardSize(TorchAdapter):
    """Writes one file whatever limit it is given."""

    name = "toy-shards"

    def save_state(self, tensors: dict[str, Any], folder: Any, *, format: str = "safetensors", max_shard_size: Any = "5GB") -> None:
        super().save_state(tensors, folder, format=format, max_shard_size="100GB")


class TransposesAKernel(TorchAdapter):
    """Loads models with one square kernel transposed (a layout bug that shapes cannot reveal)."""

    name = "toy-transpose"

    def load_model(self, folder: Any) -> Any:
        model = super().load_model(folder)
        weight = model.encoder.layer[0].attention.self.query.weight
        weight.data = weight.data.T.contiguous()
        return model


def pytest_configure(config: Any) -> None:  # loaded with -p toy_adapters: register every toy
    for toy in (UpcastsBfloat16, DropsATensor, IgnoresMaxShardSize, TransposesAKernel):
        adapters.register(toy)
