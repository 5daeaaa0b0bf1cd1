"""safetensors files: header parsing with our own checks.

The safetensors library is lenient in places that matter for files from
strangers (duplicate names keep the last, unknown fields pass, errors never
name the file). :func:`read_header` parses the header itself, strictly, from
the first ``8 + N`` bytes only, and checks that the declared tensors tile the
data section exactly, so later reads can trust offsets and sizes.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..dtypes import DTYPES, from_safetensors_code
from ..errors import DtypeError, FormatError
from ..jsonio import parse_json
from ._streaming import prefetched
from .base import TensorInfo, TensorLike, check_shape, info_of, read_array, write_array

__all__ = [
    "SafetensorsHeader",
    "read_header",
    "list_tensors",
    "read_tensor",
    "iter_tensors",
    "write",
    "layout",
    "MAX_HEADER_BYTES",
    "MAX_TENSORS",
]

#: largest header accepted (huggingface_hub refuses more than 25 MB too)
MAX_HEADER_BYTES = 25_000_000
#: most tensors accepted in one file (real checkpoints hold a few thousand)
MAX_TENSORS = 200_000
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


@dataclass(frozen=True)
class SafetensorsHeader:
    """A parsed, validated safetensors header."""

    path: str
    header_size: int
    metadata: dict[str, str]
    tensors: dict[str, TensorInfo]
    offsets: dict[str, tuple[int, int]] = field(repr=False)

    @property
    def data_start(self) -> int:
        return 8 + self.header_size

    @property
    def format(self) -> str | None:
        """``__metadata__["format"]``: whose names are inside (``pt``, ``tf``, ``flax``...)."""
        return self.metadata.get("format")


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64


def read_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Read and validate the header of a safetensors file without reading tensor data.

    Raises:
        FormatError: naming the file (and tensor) and the rule broken.
    """
    where = os.fspath(path)
    with open(where, "rb") as fh:
        file_size = os.fstat(fh.fileno()).st_size
        header_size = header_length(fh.read(8), file_size, where)
        raw = fh.read(header_size)
    return parse_header(raw, file_size, where)


def header_length(prefix: bytes, file_size: int, where: str) -> int:
    """The header's length from a file's first 8 bytes, checked against the file's size."""
    if len(prefix) < 8:
        raise FormatError(
            "too short to be a safetensors file",
            where=where,
            expected="at least 8 bytes (the header length)",
            received=f"{file_size} bytes",
        )
    (header_size,) = struct.unpack("<Q", prefix[:8])
    if header_size > MAX_HEADER_BYTES or header_size > file_size - 8:
        raise FormatError(
            "the header length is impossible",
            where=where,
            expected=f"at most {min(MAX_HEADER_BYTES, file_size - 8)} bytes",
            received=header_size,
            fix="The file is truncated or not a safetensors file.",
        )
    return int(header_size)


def parse_header(raw: bytes, file_size: int, where: str) -> SafetensorsHeader:
    """Validate a header's JSON bytes (those after the 8-byte length) for a file of ``file_size`` bytes.

    Local files and remote ones (read with HTTP range requests) go through the same checks.
    """
    header_size = len(raw)
    header = parse_json(raw, where=where)
    if not isinstance(header, dict):
        raise FormatError("the header must be a JSON object", where=where, received=type(header).__name__)

    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise FormatError("__metadata__ must map strings to strings", where=where, received=metadata)
    if len(header) > MAX_TENSORS:
        raise FormatError("too many tensors", where=where, expected=f"at most {MAX_TENSORS}", received=len(header))

    data_size = file_size - 8 - header_size
    tensors: dict[str, TensorInfo] = {}
    offsets: dict[str, tuple[int, int]] = {}
    for name, entry in header.items():
        tensor_where = f"{where} (tensor {name!r})"
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            raise FormatError(
                "malformed tensor entry", where=tensor_where, expected="an object with dtype, shape and data_offsets", received=entry
            )
        try:
            dtype = from_safetensors_code(entry["dtype"], where=tensor_where)
        except DtypeError as exc:
            raise FormatError(exc.problem, where=tensor_where, expected=exc.expected, received=exc.received) from None
        shape, span = entry["shape"], entry["data_offsets"]
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            raise FormatError("the shape must be a list of non-negative integers", where=tensor_where, received=shape)
        if not isinstance(span, list) or len(span) != 2 or not all(_is_uint(o) for o in span) or span[1] < span[0]:
            raise FormatError("data_offsets must be [begin, end] with begin <= end", where=tensor_where, received=span)
        check_shape(tuple(shape), dtype.itemsize, where=tensor_where)
        numel = 1
        for d in shape:
            numel *= d
        nbytes = numel * dtype.itemsize
        if span[1] - span[0] != nbytes:
            raise FormatError(
                "the byte length does not match the shape and dtype",
                where=tensor_where,
                expected=f"{nbytes} bytes for shape {shape} of {dtype.name}",
                received=f"{span[1] - span[0]} bytes",
            )
        tensors[name] = TensorInfo(name, dtype.name, tuple(shape), where, nbytes)
        offsets[name] = (span[0], span[1])

    # The tensors must tile the data section exactly: no gap, no overlap, nothing after.
    position = 0
    for name, (begin, end) in sorted(offsets.items(), key=lambda item: item[1]):
        if begin != position:
            problem = "tensors overlap" if begin < position else "there is a gap before this tensor"
            raise FormatError(problem, where=f"{where} (tensor {name!r})", expected=f"data starting at byte {position}", received=begin)
        position = end
    if position != data_size:
        raise FormatError(
            "the data section is truncated" if position > data_size else "there are stray bytes after the last tensor",
            where=where,
            expected=f"{position} bytes of tensor data",
            received=f"{data_size} bytes",
        )
    return SafetensorsHeader(where, header_size, dict(metadata), tensors, offsets)


def list_tensors(path: str | os.PathLike[str]) -> dict[str, TensorInfo]:
    """Names, dtypes and shapes from the header alone."""
    return read_header(path).tensors


def _read(header: SafetensorsHeader, name: str, fd: int | None = None) -> np.ndarray:
    try:
        info = header.tensors[name]
    except KeyError:
        raise FormatError(f"no tensor named {name!r}", where=header.path) from None
    begin, _ = header.offsets[name]
    return read_array(header.path, header.data_start + begin, info.dtype, info.shape, where=f"{header.path} (tensor {name!r})", fd=fd)


def read_tensor(path: str | os.PathLike[str], name: str, *, header: SafetensorsHeader | None = None) -> np.ndarray:
    """One tensor, exactly as stored (bfloat16 and float8 through ml_dtypes)."""
    return _read(header or read_header(path), name)


def iter_tensors(path: str | os.PathLike[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor in file order, one in memory at a time."""
    header = read_header(path)
    fd = os.open(header.path, os.O_RDONLY)
    try:
        for name in sorted(header.tensors, key=lambda n: header.offsets[n]):
            yield name, _read(header, name, fd)
    finally:
        os.close(fd)


def layout(tensors: Sequence[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str] | None = None, *,
           where: str) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """A file's first bytes (length and header) for ``(name, dtype, shape)`` tensors stored in that order, and each
    tensor's ``(begin, end)`` in the data after them: all a writer needs, known before any data exists."""
    entries: dict[str, object] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise FormatError("safetensors metadata must map strings to strings", where=where, received=metadata)
        entries["__metadata__"] = dict(metadata)
    offsets: dict[str, tuple[int, int]] = {}
    position = 0
    for name, dtype, shape in tensors:
        if name in entries:
            raise FormatError(f"tensor {name!r} is given twice", where=where)
        nbytes = DTYPES[dtype].itemsize * int(np.prod(shape, dtype=np.int64))
        entries[name] = {"dtype": DTYPES[dtype].safetensors_code, "shape": list(shape), "data_offsets": [position, position + nbytes]}
        offsets[name] = (position, position + nbytes)
        position += nbytes
    header = json.dumps(entries, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    header += b" " * (-len(header) % 8)  # data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(header)) + header, offsets


def write(
    path: str | os.PathLike[str],
    tensors: Sequence[tuple[str, TensorLike]],
    metadata: dict[str, str] | None = None,
) -> int:
    """Write a safetensors file, loading one tensor at a time; returns the bytes written.

    The header needs every dtype and shape first, so ``tensors`` is a sequence
    (of arrays or :class:`~modelport.formats.base.LazyTensor`), not a one-shot iterator.
    """
    where = os.fspath(path)
    prefix, offsets = layout([(name, *info_of(tensor)) for name, tensor in tensors], metadata, where=where)
    position = max((stop for _, stop in offsets.values()), default=0)
    with open(where, "wb") as fh, contextlib.closing(prefetched(tensors, where=str(where))) as arrays:
        fh.write(prefix)
        for _, array in arrays:
            write_array(fh, array)
    return len(prefix) + position
