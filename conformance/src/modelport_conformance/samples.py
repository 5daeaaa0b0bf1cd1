"""What the suite feeds adapters: sample arrays of every dtype, a tiny BERT, and checkpoints prepared from an adapter's tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelport import BertConfig
from modelport.conversion import canonical_name, canonical_shape
from modelport.dtypes import DTYPES
from modelport.saving import save_checkpoint

__all__ = ["sample_array", "tiny_bert_config", "prepare_checkpoint"]


def sample_array(dtype_name: str, shape: tuple[int, ...] = (3, 5), seed: int = 7) -> np.ndarray:
    """Values that exercise every bit: random bit patterns for floats (NaNs replaced: payloads are not portable)."""
    info = DTYPES[dtype_name]
    rng = np.random.default_rng(seed)
    if dtype_name == "bool":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if not info.is_floating:
        limits = np.iinfo(info.numpy)
        return rng.integers(limits.min, limits.max, size=shape, dtype=info.numpy, endpoint=True)
    count = int(np.prod(shape))
    values = rng.integers(0, 256, size=count * info.itemsize, dtype=np.uint8).view(info.numpy).reshape(shape).copy()
    with np.errstate(invalid="ignore"):
        values[np.isnan(values.astype(np.float64))] = 0
    return values


def tiny_bert_config() -> BertConfig:
    return BertConfig(vocab_size=64, hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                      max_position_embeddings=32, type_vocab_size=2, architectures=["BertModel"])


def prepare_checkpoint(adapter: Any, folder: Path, config: BertConfig, *, drop: str | None = None, extra: bool = False,
                       grow: str | None = None, seed: int = 0, dtype: str = "float32") -> dict[str, np.ndarray]:
    """A PyTorch-named safetensors checkpoint for ``adapter``'s tree of ``config``, with seeded N(0, 0.1) weights.

    ``drop`` leaves out the canonical name ending so; ``extra`` adds ``extra_head.weight``;
    ``grow`` gives the canonical name ending so one more row; ``dtype`` stores the
    weights in another floating dtype (``"bfloat16"``). Returns the tensors written.
    """
    tree = adapter.parameter_tree(config)
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}
    for name, shape in tree.shapes.items():
        canonical = canonical_name(name, tree.framework)
        if drop and canonical.endswith(drop):
            continue
        shape = canonical_shape(name, tuple(shape), tree.framework)
        if grow and canonical.endswith(grow):
            shape = (shape[0] + 1, *shape[1:])
        value = rng.standard_normal(shape).astype(np.float32) * np.float32(0.1)
        if canonical.endswith(("LayerNorm.weight", "ln_1.weight", "ln_2.weight", "ln_f.weight")):
            value += np.float32(1.0)
        tensors[canonical] = value.astype(DTYPES[dtype].numpy)
    if extra:
        tensors["extra_head.weight"] = np.ones((3, 3), np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder, list(tensors.items()), format="safetensors", framework="pt", durable=False)
    config.save_pretrained(folder)
    return tensors
