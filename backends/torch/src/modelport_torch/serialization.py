"""PyTorch ``.bin`` files: the one format the core cannot write without torch.

The core's ``save_checkpoint`` does the sharding, the index and the crash-safe
commit; this module only turns one shard's tensors into a ``torch.save`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import torch

from modelport.formats.base import WRITE_CHUNK, TensorLike, materialise

from .adapter import TorchAdapter

__all__ = ["write_bin"]

_ADAPTER = TorchAdapter()


def write_bin(path: str | Path, tensors: list[tuple[str, TensorLike]]) -> None:
    """Write ``(name, array or LazyTensor)`` pairs as a ``torch.save`` state dict."""
    state = {}
    for name, tensor in tensors:
        value = tensor if isinstance(tensor, torch.Tensor) else _ADAPTER.from_numpy(materialise(tensor, where=f"{path} ({name!r})"))
        state[name] = value.contiguous()
    with open(path, "wb") as raw:
        torch.save(state, _ChunkedWriter(raw))


class _ChunkedWriter:
    """A file object for ``torch.save`` that passes its large records on in pieces.

    ``torch.save`` hands each tensor's storage to ``write`` whole; the core's
    writers split writes at ``WRITE_CHUNK`` because single multi-megabyte writes
    into the page cache are several times slower on the machines measured.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), WRITE_CHUNK):
            self._raw.write(view[start : start + WRITE_CHUNK])
        return len(view)

    def flush(self) -> None:
        self._raw.flush()
