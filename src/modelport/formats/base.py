"""What every format module shares: tensor descriptions, lazy tensors and raw reads.

Each format module offers the same small surface:

* ``list_tensors(path) -> dict[str, TensorInfo]``: names, dtypes, shapes from
  the header alone;
* ``read_tensor(path, name) -> np.ndarray``: one tensor;
* ``iter_tensors(path)``: ``(name, array)`` pairs, one tensor in memory at a time;
* ``write(path, tensors, metadata=None)``: from a sequence of ``(name, tensor)``
  where each tensor is an array or a :class:`LazyTensor`, loading one at a time.

Data is read with positioned reads, not memory maps: a file truncated by
another process while mapped kills the reader with SIGBUS, while a read just
returns fewer bytes, which is reported as a truncated file.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ..dtypes import DTYPES, canonical_dtype
from ..errors import FormatError

__all__ = ["TensorInfo", "LazyTensor", "TensorLike", "info_of", "materialise", "read_array", "write_array", "row_blocks", "WRITE_CHUNK", "file_identity", "check_shape"]


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as a file's header describes it, before any data is read."""

    name: str
    dtype: str  # canonical dtype name
    shape: tuple[int, ...]
    file: str
    nbytes: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class LazyTensor:
    """A tensor whose dtype and shape are known and whose data is read on demand."""

    dtype: str
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]

    @property
    def nbytes(self) -> int:
        n = DTYPES[self.dtype].itemsize
        for d in self.shape:
            n *= d
        return n


TensorLike = np.ndarray | LazyTensor


def info_of(tensor: TensorLike) -> tuple[str, tuple[int, ...]]:
    """``(canonical dtype, shape)`` of an array or lazy tensor, without loading it."""
    if isinstance(tensor, LazyTensor):
        return tensor.dtype, tuple(tensor.shape)
    array = np.asarray(tensor)
    return canonical_dtype(array.dtype), tuple(array.shape)


def materialise(tensor: TensorLike, *, where: str) -> np.ndarray:
    """The array behind a tensor, C-contiguous and little-endian, checked against its declared dtype and shape."""
    if isinstance(tensor, LazyTensor):
        array = np.asarray(tensor.load())
        if canonical_dtype(array.dtype) != tensor.dtype or tuple(array.shape) != tuple(tensor.shape):
            raise FormatError(
                "a tensor's data does not match its declared dtype and shape",
                where=where,
                expected=f"{tensor.dtype} {list(tensor.shape)}",
                received=f"{array.dtype} {list(array.shape)}",
            )
    else:
        array = np.asarray(tensor)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    # not np.ascontiguousarray: it turns 0-d arrays into 1-d ones
    return array if array.flags.c_contiguous else array.copy(order="C")


def check_shape(shape: tuple[int, ...], itemsize: int, *, where: str) -> None:
    """Refuse shapes no array can have: numpy limits the product of the non-zero dimensions times
    the item size to 2**63, even for an empty array (``[0, 2**62]`` of float32 cannot exist)."""
    extent = itemsize
    for d in shape:
        extent *= max(d, 1)
    if extent >= 2**63:
        raise FormatError("the shape is too large for any array", where=where, received=list(shape),
                          fix="The header is damaged or crafted.")


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int, int, int]:
    """``(device, inode, size, mtime_ns)``: changes when a file is replaced or rewritten."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


#: largest single write: on the project's machines one write(2) of 16 MiB into the
#: page cache ran 4-5x slower than the same bytes in 1 MiB writes (docs/benchmarks.md)
WRITE_CHUNK = 1 << 20


def write_array(fh: BinaryIO, array: np.ndarray) -> None:
    """Write a C-contiguous array's bytes to ``fh`` in pieces of at most :data:`WRITE_CHUNK`."""
    if not array.size:
        return
    data = memoryview(array.reshape(-1).view(np.uint8))
    for start in range(0, len(data), WRITE_CHUNK):
        fh.write(data[start : start + WRITE_CHUNK])


def row_blocks(shape: tuple[int, ...], itemsize: int) -> Iterator[slice]:
    """Slices of the leading axis covering about :data:`WRITE_CHUNK` bytes each (for writers that take hyperslabs)."""
    if not shape:
        return
    row = itemsize
    for d in shape[1:]:
        row *= d
    step = max(1, WRITE_CHUNK // max(row, 1))
    for start in range(0, shape[0], step):
        yield slice(start, min(start + step, shape[0]))


_ALIGNMENT = 64  # XLA's CPU client adopts 64-byte-aligned buffers without copying them


class ScratchBuffers:
    """A few reused buffers for a pipeline that consumes each array before it makes the next one (the converter).

    Writing into freshly allocated memory costs a page fault per page, several
    times the copy itself on some machines; reads and transposes into buffers
    that were used before skip that. Inside :meth:`lending`, the first
    ``slots`` allocations of :func:`read_array` and :func:`aligned_copy` come
    from here, rotating, so one tensor may go through a read and two
    transposes; any further allocation is a fresh one. An array lent here is
    overwritten by the next :meth:`lending` block: the caller must be done with it.
    """

    def __init__(self, slots: int = 3) -> None:
        self._buffers: list[np.ndarray | None] = [None] * slots
        self._next = 0
        self._lent = 0

    @contextlib.contextmanager
    def lending(self) -> Iterator[None]:
        self._lent = 0
        token = _SCRATCH.set(self)
        try:
            yield
        finally:
            _SCRATCH.reset(token)

    def take(self, nbytes: int) -> np.ndarray | None:
        if self._lent >= len(self._buffers):
            return None
        self._lent += 1
        slot = self._next
        self._next = (slot + 1) % len(self._buffers)
        buffer = self._buffers[slot]
        if buffer is None or buffer.nbytes < nbytes + _ALIGNMENT:
            buffer = self._buffers[slot] = np.empty(nbytes + _ALIGNMENT, dtype=np.uint8)
        return buffer


_SCRATCH: contextvars.ContextVar[ScratchBuffers | None] = contextvars.ContextVar("modelport_scratch", default=None)


def _aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-order array whose data starts on a 64-byte boundary."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    pool = _SCRATCH.get()
    raw = pool.take(nbytes) if pool is not None else None
    if raw is None:
        raw = np.empty(nbytes + _ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


_TILE = 128  # rows and columns per tile of a blocked transpose: both tiles stay in the L2 cache


def aligned_copy(array: np.ndarray) -> np.ndarray:
    """A C-order copy of ``array`` starting on a 64-byte boundary (frameworks adopt such buffers without copying)."""
    out = _aligned_empty(tuple(array.shape), array.dtype)
    if array.ndim == 2 and array.T.flags.c_contiguous and not array.flags.c_contiguous and array.nbytes > 1 << 20:
        # A transposed matrix: copying it in tiles reads and writes cache lines whole (about 1.3x
        # faster than one strided copy on the machines measured).
        rows, cols = array.shape
        for i in range(0, rows, _TILE):
            for j in range(0, cols, _TILE):
                out[i : i + _TILE, j : j + _TILE] = array[i : i + _TILE, j : j + _TILE]
        return out
    out[...] = array
    return out


def is_aligned(array: np.ndarray) -> bool:
    return bool(array.flags.c_contiguous) and array.ctypes.data % _ALIGNMENT == 0


def read_array(path: str, offset: int, dtype: str, shape: tuple[int, ...], *, where: str, fd: int | None = None) -> np.ndarray:
    """Read a C-order array of ``dtype`` and ``shape`` at byte ``offset`` with positioned reads."""
    info = DTYPES[dtype]
    out = _aligned_empty(shape, info.numpy)
    view = memoryview(out.reshape(-1).view(np.uint8)) if out.size else memoryview(b"")
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY)
    try:
        done = 0
        while done < len(view):
            n = os.preadv(fd, [view[done:]], offset + done)
            if n <= 0:
                raise FormatError(
                    "the file ends before the tensor's data",
                    where=where,
                    expected=f"{len(view)} bytes at offset {offset}",
                    received=f"{done} bytes",
                    fix="The file is truncated; download or save it again.",
                )
            done += n
    finally:
        if own:
            os.close(fd)
    if dtype == "bool" and out.size and int(out.view(np.uint8).max()) > 1:
        # numpy (and every framework) assumes bools are 0 or 1; other bytes make comparisons lie
        raise FormatError("a bool tensor holds bytes other than 0 and 1", where=where,
                          fix="The file is damaged or crafted; re-save the tensor as bool.")
    return out

