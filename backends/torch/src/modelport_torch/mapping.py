"""Parameters whose storage is the checkpoint file's own bytes: private (copy-on-write) memory maps.

When a stored tensor already has its parameter's dtype and layout, reading it into fresh memory and
copying it into the parameter costs two passes over memory that has never been touched; a mapped
parameter costs only the page faults of the first use, from the page cache. Writes to a mapped
parameter (training, ``resize``, ``copy_``) go to private copies of the pages: the file never changes.

The trade-off, documented in docs/trust.md: a process that truncates the file while the model lives
can make a later access fault (SIGBUS). Files are mapped only after the core has validated their
headers, and the file's identity is checked again once mapped. ``mmap=False`` or
``MODELPORT_MMAP=0`` loads by copying instead.
"""

from __future__ import annotations

import math
import mmap
import os
from typing import Any

import torch

from modelport.formats.base import FileBytes

__all__ = ["FileMaps", "mapping_enabled"]

_OFF = ("0", "false", "no", "off")


def mapping_enabled(requested: Any = None) -> bool:
    """``mmap=`` when given, else ``MODELPORT_MMAP`` (on unless 0/false/no/off)."""
    if requested is not None:
        return bool(requested)
    return os.environ.get("MODELPORT_MMAP", "1").strip().lower() not in _OFF


class FileMaps:
    """One private map per checkpoint file for the duration of a load; tensors keep their map alive after it."""

    def __init__(self) -> None:
        self._maps: dict[str, mmap.mmap] = {}

    def tensor(self, found: FileBytes, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor | None:
        """The tensor over the file's bytes, or None when they cannot be a tensor's storage as they lie."""
        itemsize = torch.empty((), dtype=dtype).element_size()
        count = math.prod(shape)
        if count == 0 or found.offset % itemsize or found.nbytes != count * itemsize:
            return None
        view = self._map(found)
        return torch.frombuffer(view, dtype=dtype, count=count, offset=found.offset).view(shape)

    def release(self, found: FileBytes) -> None:
        """Drop this process's pages of bytes already cast into a parameter of their own (they stay in the page
        cache): a widening load then peaks at the parameters' size, not that plus the file's."""
        mapped, advice = self._maps.get(found.path), getattr(mmap, "MADV_DONTNEED", None)
        if mapped is None or advice is None:
            return
        start = -(-found.offset // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside the tensor's bytes only
        stop = (found.offset + found.nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
        if stop > start:
            mapped.madvise(advice, start, stop - start)

    def _map(self, found: FileBytes) -> mmap.mmap:
        mapped = self._maps.get(found.path)
        if mapped is None:
            with open(found.path, "rb") as fh:
                mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
            found.verify()  # the file mapped is the one whose header was validated (same inode, size, mtime)
            self._maps[found.path] = mapped
        return mapped

