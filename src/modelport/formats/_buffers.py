"""Where reads and transposes put their bytes: 64-byte-aligned arrays, from reused scratch buffers when asked.

Private to the formats and the converter. Frameworks adopt 64-byte-aligned
buffers without copying them (XLA's CPU client, TF through DLPack), so every
array a reader or a transpose makes is aligned. A pipeline of loads that runs
one at a time (the converter's) may lend :class:`ScratchBuffers` to the
allocations inside a :meth:`ScratchBuffers.lending` block: writing into memory
used before skips the page faults of fresh memory, which on some machines cost
several times the copy itself. Outside such a block, allocations are fresh.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["ScratchBuffers", "aligned_empty", "aligned_copy", "is_aligned"]

_ALIGNMENT = 64  # XLA's CPU client adopts 64-byte-aligned buffers without copying them
#: smaller arrays (biases, norms) come from the allocator, which reuses its own freed memory for them;
#: in a slot they would make it shrink and grow again between a bias and the next kernel
_SCRATCH_MIN = 1 << 20


class ScratchBuffers:
    """Reused buffers for a pipeline of loads that run one at a time (the converter's).

    Writing into freshly allocated memory costs a page fault per page, several
    times the copy itself on some machines; reads and transposes into buffers
    that were used before skip that. Each :meth:`lending` block takes the next
    of ``generations`` sets of buffers in turn; inside it, the allocations of
    :func:`read_array` and :func:`aligned_copy` come from that set (a read and
    up to two transposes; any further one is fresh). An array lent here is
    overwritten by the block ``generations`` blocks later, so the caller must be
    done with it by then: with :func:`~modelport.formats._streaming.prefetched`'s lookahead of
    :data:`PREFETCH_AHEAD` items, ``PREFETCH_AHEAD + 1`` generations are enough.
    """

    def __init__(self, generations: int = 1, slots: int = 3) -> None:
        self._sets: list[list[np.ndarray | None]] = [[None] * slots for _ in range(generations)]
        self._turn = -1
        self._lent = 0

    @contextlib.contextmanager
    def lending(self) -> Iterator[None]:
        self._turn = (self._turn + 1) % len(self._sets)
        self._lent = 0
        token = _SCRATCH.set(self)
        try:
            yield
        finally:
            _SCRATCH.reset(token)

    def take(self, nbytes: int) -> np.ndarray | None:
        slots = self._sets[self._turn]
        if self._lent >= len(slots) or nbytes < _SCRATCH_MIN:
            return None
        slot = self._lent
        self._lent += 1
        buffer = slots[slot]
        need = nbytes + _ALIGNMENT
        # a buffer far larger than needed (left by an embedding table) is let go, so the
        # sets hold about one tensor of the usual size each, not the largest tensor each
        if buffer is None or buffer.nbytes < need or buffer.nbytes > 4 * need:
            slots[slot] = None  # the old one goes before the new one is made
            buffer = slots[slot] = np.empty(need, dtype=np.uint8)
        return buffer


_SCRATCH: contextvars.ContextVar[ScratchBuffers | None] = contextvars.ContextVar("modelport_scratch", default=None)


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-order array whose data starts on a 64-byte boundary."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    pool = _SCRATCH.get()
    raw = pool.take(nbytes) if pool is not None else None
    if raw is None:
        raw = np.empty(nbytes + _ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


#: a blocked transpose copies tiles of this many rows by columns of the result: each result row of a
#: tile is one 64-byte cache line or less, each source row a contiguous run of 256 items. Measured on
#: float16/32/64 matrices of 1024-4096 by 768-4096 (session 4): 1.3-4.4 GB/s, against 0.3-2.2 GB/s for
#: square 128 x 128 tiles (0.3 GB/s when the source rows are 16 KiB apart) and 0.3-1 GB/s for one copy
_TILE_ROWS, _TILE_COLS = 256, 16


def aligned_copy(array: np.ndarray) -> np.ndarray:
    """A C-order copy of ``array`` starting on a 64-byte boundary (frameworks adopt such buffers without copying)."""
    out = aligned_empty(tuple(array.shape), array.dtype)
    if array.ndim == 2 and array.T.flags.c_contiguous and not array.flags.c_contiguous and array.nbytes > 1 << 20:
        # A transposed matrix: one strided copy misses the cache and the TLB on most reads; tiles keep
        # both small (see _TILE_ROWS). Two threads share the rows: numpy lets go of the GIL for each tile, and
        # in a conversion the writing thread mostly waits for this one (1.3x on 2 cores, session 6).
        rows = array.shape[0]
        middle = rows // 2 // _TILE_ROWS * _TILE_ROWS
        if middle and array.nbytes > PARALLEL_BYTES:
            half = transpose_pool().submit(_copy_tiles, out, array, middle, rows)
            _copy_tiles(out, array, 0, middle)
            half.result()
        else:
            _copy_tiles(out, array, 0, rows)
        return out
    out[...] = array
    return out


PARALLEL_BYTES = 8 << 20  # smaller matrices are not worth a hand-off
_POOL: list[ThreadPoolExecutor] = []


def transpose_pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(1, thread_name_prefix="modelport-transpose"))
    return _POOL[0]


def _copy_tiles(out: np.ndarray, array: np.ndarray, first_row: int, end_row: int) -> None:
    cols = array.shape[1]
    for i in range(first_row, end_row, _TILE_ROWS):
        for j in range(0, cols, _TILE_COLS):
            out[i : i + _TILE_ROWS, j : j + _TILE_COLS] = array[i : i + _TILE_ROWS, j : j + _TILE_COLS]


def is_aligned(array: np.ndarray) -> bool:
    return bool(array.flags.c_contiguous) and array.ctypes.data % _ALIGNMENT == 0
