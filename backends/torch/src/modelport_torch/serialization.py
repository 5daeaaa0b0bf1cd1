"""PyTorch ``.bin`` files: the one format the core cannot write without torch.

The core's ``save_checkpoint`` does the sharding, the index and the crash-safe
commit; this module only turns one shard's tensors into a ``torch.save`` file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from modelport.formats.base import TensorLike, materialise

from .adapter import TorchAdapter

__all__ = ["write_bin"]

_ADAPTER = TorchAdapter()


def write_bin(path: str | Path, tensors: list[tuple[str, TensorLike]], save: Callable[[Any, Any], Any] = torch.save) -> None:
    """Write ``(name, array or LazyTensor)`` pairs as a ``torch.save`` state dict (or with ``save(state, path)``)."""
    state = {}
    for name, tensor in tensors:
        value = tensor if isinstance(tensor, torch.Tensor) else _ADAPTER.from_numpy(materialise(tensor, where=f"{path} ({name!r})"))
        state[name] = value.contiguous()
    save(state, path)
