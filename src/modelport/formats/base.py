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
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from ..dtypes import DTYPES, canonical_dtype
from ..errors import FormatError
from ._buffers import PARALLEL_BYTES, aligned_empty, transpose_pool

__all__ = ["TensorInfo", "LazyTensor", "FileBytes", "TensorLike", "info_of", "materialise", "read_array", "read_transposed", "write_array",
           "WRITE_CHUNK", "file_identity", "check_shape", "block_runs", "read_runs", "write_runs", "READ_OBSERVERS"]


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
    #: (see :func:`modelport.formats._streaming.prefetched`); only for loads that touch no thread-bound state
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


#: ``observe(handle, offset, nbytes)`` for every tensor data read (:func:`modelport.distributed.trace.recording_reads`)
READ_OBSERVERS: list[Callable[[int, int, int], None]] = []


def _pread_exact(handle: int, view: memoryview, offset: int, where: str) -> None:
    """Fill ``view`` with the file's bytes from ``offset``; a short file is a :class:`FormatError`."""
    for observe in READ_OBSERVERS:
        observe(handle, offset, len(view))
    done = 0
    while done < len(view):
        n = os.preadv(handle, [view[done:]], offset + done)
        if n <= 0:
            raise FormatError(
                "the file ends before the tensor's data",
                where=where,
                expected=f"{len(view)} bytes at offset {offset}",
                received=f"{done} bytes",
                fix="The file is truncated; download or save it again.",
            )
        done += n


#: rows of the stored matrix read at once by :func:`read_transposed`: a band this size stays in the core's
#: L2 cache (1-2 MiB) between the read and the transpose that scatters it
_BAND_BYTES = 1 << 20


def read_transposed(source: FileBytes, dtype: str, shape: tuple[int, int], *, where: str) -> np.ndarray:
    """The ``shape`` matrix of ``dtype`` stored at ``source``, read as its transpose (a C-order ``shape[::-1]`` array).

    Reading the whole matrix and then transposing it moves every byte through main memory twice more than
    needed. This reads bands of rows into a small buffer, which stays in cache while it is scattered into
    the result's columns: 2.0x the rate of a read then a tiled two-thread transpose of the same float32
    kernels, 1.8x for bfloat16 (``benchmarks/transpose_read.py``, docs/benchmarks.md). Large matrices are
    split between the calling thread and the transpose pool's.
    """
    rows, cols = shape
    info = DTYPES[dtype]
    out = aligned_empty((cols, rows), info.numpy)  # on this thread: scratch buffers are lent per thread
    if not out.size:
        return out
    band = max(16, min(256, _BAND_BYTES // (cols * info.itemsize) // 16 * 16))
    handle = os.open(source.path, os.O_RDONLY)
    try:
        middle = rows // 2 // band * band
        if middle and source.nbytes > PARALLEL_BYTES:
            half = transpose_pool().submit(_read_bands, handle, source.offset, out, middle, rows, band, where)
            try:
                _read_bands(handle, source.offset, out, 0, middle, band, where)
            finally:
                half.result()  # the other thread's error (a short file) too; and the handle stays open until it ends
        else:
            _read_bands(handle, source.offset, out, 0, rows, band, where)
    finally:
        os.close(handle)
    return out


def _read_bands(handle: int, offset: int, out: np.ndarray, first: int, end: int, band: int, where: str) -> None:
    """Rows ``first:end`` of the stored matrix into columns ``first:end`` of ``out`` (its transpose), a band at a time."""
    cols = out.shape[0]
    buffer = np.empty(band * cols, dtype=out.dtype)
    row_bytes = cols * out.dtype.itemsize
    for start in range(first, end, band):
        n = min(band, end - start)
        part = buffer[: n * cols]
        _pread_exact(handle, part.view(np.uint8).data, offset + start * row_bytes, where)
        out[:, start : start + n] = part.reshape(n, cols).T


def write_array(fh: BinaryIO, array: np.ndarray | FileBytes) -> None:
    """Write a C-contiguous array's bytes to ``fh`` in pieces of at most :data:`WRITE_CHUNK`,
    or copy :class:`FileBytes` into it file to file."""
    if isinstance(array, FileBytes):
        _copy_file_bytes(fh, array)
        return
    if not array.size:
        return
    data = array.reshape(-1).view(np.uint8).data
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


def block_runs(shape: tuple[int, ...], box: tuple[tuple[int, int], ...], itemsize: int) -> Iterator[tuple[int, int]]:
    """``(byte offset in the tensor, bytes)`` of each contiguous run of the block ``box`` (a ``(start, stop)`` per
    axis) of a C-order ``shape`` array, in the order they fill the block's own C-order bytes.

    The axes after the last partial one are whole, so with it they make one run: a row block of a matrix is one
    run, a column block one run per row.
    """
    sizes = tuple(stop - start for start, stop in box)
    if not all(sizes):
        return
    split = len(shape)  # axes from ``split`` on are whole
    while split > 0 and sizes[split - 1] == shape[split - 1]:
        split -= 1
    first = max(split - 1, 0)
    run = itemsize * math.prod(sizes[first:])
    strides = [itemsize * math.prod(shape[axis + 1 :]) for axis in range(len(shape))]
    start = sum(box[axis][0] * strides[axis] for axis in range(first, len(shape)))
    for outer in np.ndindex(*sizes[:first]):
        yield start + sum((box[a][0] + i) * strides[a] for a, i in enumerate(outer)), run


def read_runs(source: FileBytes, dtype: str, shape: tuple[int, ...], box: tuple[tuple[int, int], ...], *,
              where: str, out: np.ndarray | None = None) -> np.ndarray:
    """The block ``box`` of the C-order ``shape`` array of ``dtype`` at ``source``, reading only its bytes
    (:func:`block_runs`: one positioned read per run), never the whole tensor; into ``out`` (a C-contiguous array
    of the block's shape and dtype) when given."""
    if out is None:
        out = aligned_empty(tuple(stop - start for start, stop in box), DTYPES[dtype].numpy)
    view = out.reshape(-1).view(np.uint8).data if out.size else memoryview(b"")
    handle = os.open(source.path, os.O_RDONLY)
    try:
        done = 0
        for offset, n in block_runs(shape, box, out.dtype.itemsize):
            _pread_exact(handle, view[done : done + n], source.offset + offset, where)
            done += n
    finally:
        os.close(handle)
    source.verify()
    return out


def write_runs(handle: int, offset: int, shape: tuple[int, ...], box: tuple[tuple[int, int], ...], block: np.ndarray) -> None:
    """Write ``block`` (C order) as the block ``box`` of the C-order ``shape`` tensor whose bytes start at ``offset``
    of the open file ``handle``: one positioned write per run, the rest of the tensor untouched."""
    data = np.ascontiguousarray(block).reshape(-1).view(np.uint8).data if block.size else memoryview(b"")
    done = 0
    for at, n in block_runs(shape, box, block.dtype.itemsize):
        written = 0
        while written < n:  # in pieces of WRITE_CHUNK: see its comment
            piece = data[done + written : done + min(n, written + WRITE_CHUNK)]
            written += os.pwrite(handle, piece, offset + at + written)
        done += n


def read_array(path: str, offset: int, dtype: str, shape: tuple[int, ...], *, where: str, fd: int | None = None) -> np.ndarray:
    """Read a C-order array of ``dtype`` and ``shape`` at byte ``offset`` with positioned reads."""
    info = DTYPES[dtype]
    out = aligned_empty(shape, info.numpy)
    view = out.reshape(-1).view(np.uint8).data if out.size else memoryview(b"")
    own = fd is None
    handle = os.open(path, os.O_RDONLY) if fd is None else fd
    try:
        _pread_exact(handle, view, offset, where)
    finally:
        if own:
            os.close(handle)
    if dtype == "bool" and out.size and int(out.view(np.uint8).max()) > 1:
        # numpy (and every framework) assumes bools are 0 or 1; other bytes make comparisons lie
        raise FormatError("a bool tensor holds bytes other than 0 and 1", where=where,
                          fix="The file is damaged or crafted; re-save the tensor as bool.")
    return out

