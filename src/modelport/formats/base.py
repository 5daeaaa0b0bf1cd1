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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from ..dtypes import DTYPES, canonical_dtype
from ..errors import FormatError

__all__ = ["TensorInfo", "LazyTensor", "FileBytes", "TensorLike", "info_of", "materialise", "materialised", "PREFETCH_AHEAD", "read_array", "write_array", "WRITE_CHUNK", "file_identity", "check_shape"]


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
class FileBytes:
    """A tensor's exact bytes (little-endian, C order) at ``offset`` in ``path``.

    A writer given one copies file to file (``copy_file_range``: in the kernel,
    no user memory), then calls ``verify``, which raises :class:`FormatError`
    if the source file changed since its header was checked.
    """

    path: str
    offset: int
    nbytes: int
    verify: Callable[[], None] = field(default=lambda: None, repr=False)

    def part(self, start: int, stop: int) -> FileBytes:
        """Bytes ``start:stop`` of these (a writer's chunk), with the same check."""
        return FileBytes(self.path, self.offset + start, min(stop, self.nbytes) - start, self.verify)


@dataclass(frozen=True)
class LazyTensor:
    """A tensor whose dtype and shape are known and whose data is read on demand."""

    dtype: str
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]
    #: ``load`` may run on a worker thread while the writer writes the tensor before it
    #: (see :func:`materialised`); only for loads that touch no thread-bound state
    prefetch: bool = False
    #: where the tensor's bytes already are, unchanged: writers that take :class:`FileBytes` copy them
    file_bytes: FileBytes | None = None

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


#: how many items :func:`materialised` loads ahead of the one the caller is writing: two, so a
#: large kernel loads while the one before it and the small bias between them are written
PREFETCH_AHEAD = 2


def materialised(items: Iterable[tuple[str, TensorLike]], *, where: str) -> Iterator[tuple[str, np.ndarray | FileBytes]]:
    """``(name, array)`` for each item in order, as :func:`materialise` makes them, or ``(name, FileBytes)``
    for a lazy tensor whose bytes are in a file already (:func:`write_array` copies those).

    Lazy tensors marked ``prefetch`` are loaded on one worker thread, up to
    :data:`PREFETCH_AHEAD` loads ahead of the item the caller is writing, so
    reading and re-laying-out tensors overlaps writing them (numpy copies,
    reads and writes release the GIL). Loads run one at a time, in order; when
    the caller asks for item ``i`` (and so is done with every item before it),
    at most ``PREFETCH_AHEAD + 1`` loads of items from ``i`` on have started.
    Items with :class:`FileBytes` need no load and do not count; an item
    without either mark stops the lookahead and is loaded on the caller's
    thread. Close the generator (or exhaust it) before reusing what the loads
    read from.
    """
    items = list(items)

    def make(i: int) -> np.ndarray | FileBytes:
        name, tensor = items[i]
        if isinstance(tensor, LazyTensor) and tensor.file_bytes is not None:
            return tensor.file_bytes
        return materialise(tensor, where=f"{where} (tensor {name!r})")

    def ahead(i: int) -> bool:
        tensor = items[i][1]
        return isinstance(tensor, LazyTensor) and tensor.prefetch and tensor.file_bytes is None

    def ready(i: int) -> bool:
        tensor = items[i][1]
        return isinstance(tensor, LazyTensor) and tensor.file_bytes is not None

    if not any(ahead(i) for i in range(len(items))):
        for i, (name, _) in enumerate(items):
            yield name, make(i)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelport-prefetch") as pool:
        loading: dict[int, Future[np.ndarray | FileBytes]] = {}
        started = 0  # items below this were submitted or loaded here
        try:
            for i, (name, _) in enumerate(items):
                # `loading` holds the loads of items from i on: the caller is done with the rest
                while started < len(items) and len(loading) <= PREFETCH_AHEAD and (ahead(started) or ready(started)):
                    if ahead(started):
                        loading[started] = pool.submit(make, started)
                    started += 1
                if i in loading:
                    array = loading.pop(i).result()
                else:
                    array = make(i)
                    started = max(started, i + 1)
                yield name, array
        finally:
            for future in loading.values():  # the caller stopped early: let the running load finish first
                if not future.cancel():
                    with contextlib.suppress(BaseException):
                        future.result()


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


def write_array(fh: BinaryIO, array: np.ndarray | FileBytes) -> None:
    """Write a C-contiguous array's bytes to ``fh`` in pieces of at most :data:`WRITE_CHUNK`,
    or copy :class:`FileBytes` into it file to file."""
    if isinstance(array, FileBytes):
        _copy_file_bytes(fh, array)
        return
    if not array.size:
        return
    data = memoryview(array.reshape(-1).view(np.uint8))
    for start in range(0, len(data), WRITE_CHUNK):
        fh.write(data[start : start + WRITE_CHUNK])


def _copy_file_bytes(fh: BinaryIO, source: FileBytes) -> None:
    """Append ``source``'s bytes at ``fh``'s position: in the kernel where it can, through a buffer where not."""
    fh.flush()
    position = fh.tell()
    done = 0
    fd = os.open(source.path, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # another filesystem, an old kernel: the loop below does the rest
            while done < source.nbytes:
                n = os.copy_file_range(fd, fh.fileno(), source.nbytes - done, source.offset + done, position + done)
                if n <= 0:
                    break
                done += n
        buffer = memoryview(bytearray(min(WRITE_CHUNK, source.nbytes - done))) if done < source.nbytes else None
        while buffer is not None and done < source.nbytes:
            n = os.preadv(fd, [buffer[: source.nbytes - done]], source.offset + done)
            if n <= 0:
                raise FormatError("the file ends before the tensor's data", where=source.path,
                                  expected=f"{source.nbytes} bytes at offset {source.offset}", received=f"{done} bytes",
                                  fix="The file is truncated; download or save it again.")
            os.pwrite(fh.fileno(), buffer[:n], position + done)
            done += n
    finally:
        os.close(fd)
    fh.seek(position + source.nbytes)
    source.verify()


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
    done with it by then: with :func:`materialised`'s lookahead of
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


def _aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
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
    out = _aligned_empty(tuple(array.shape), array.dtype)
    if array.ndim == 2 and array.T.flags.c_contiguous and not array.flags.c_contiguous and array.nbytes > 1 << 20:
        # A transposed matrix: one strided copy misses the cache and the TLB on most reads; tiles keep
        # both small (see _TILE_ROWS).
        rows, cols = array.shape
        for i in range(0, rows, _TILE_ROWS):
            for j in range(0, cols, _TILE_COLS):
                out[i : i + _TILE_ROWS, j : j + _TILE_COLS] = array[i : i + _TILE_ROWS, j : j + _TILE_COLS]
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

