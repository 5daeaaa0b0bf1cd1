"""Flax ``flax_model.msgpack`` files (``flax.serialization.to_bytes``), without flax.

The file is one msgpack map of maps whose leaves are arrays: ExtType 1 (or 3
for numpy scalars) holding the msgpack of ``(shape, dtype name, raw C-order
bytes)``, or, above 2**30 bytes, a ``{"__msgpack_chunked_array__": true,
"shape": {"0": d0, ...}, "chunks": {"0": flat part, ...}}`` map.

Instead of decoding the whole file (flax reads it into memory at once), a
small pull parser walks the structure and records where each array's bytes
are, skipping over them; tensors are then read on demand with positioned
reads. The parser refuses what flax's decoder lets through or chokes on:
duplicate keys, non-string keys, unknown ext codes, dtype strings outside
the canonical list, shapes that do not match the bytes, nesting past a limit,
trailing bytes, and containers that claim more entries than bytes remain.

Tensor names are the ``/``-joined key paths, as transformers' Flax indexes use.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgpack
import numpy as np

from ..dtypes import DTYPES
from ..errors import FormatError
from ._streaming import prefetched
from .base import FileBytes, TensorInfo, TensorLike, check_shape, info_of, read_array, write_array

__all__ = ["MsgpackLayout", "read_layout", "list_tensors", "read_tensor", "iter_tensors", "write", "MAX_CHUNK_SIZE"]

MAX_CHUNK_SIZE = 2**30
_MAX_DEPTH = 64
_CHUNKED = "__msgpack_chunked_array__"


@dataclass(frozen=True)
class _Segment:
    offset: int  # absolute file offset of raw bytes
    nbytes: int


@dataclass(frozen=True)
class _Array:
    dtype: str
    shape: tuple[int, ...]
    segments: tuple[_Segment, ...]  # one, or several for chunked arrays (flat parts in order)


@dataclass(frozen=True)
class MsgpackLayout:
    path: str
    arrays: dict[str, _Array]

    def info(self, name: str) -> TensorInfo:
        a = self.arrays[name]
        return TensorInfo(name, a.dtype, a.shape, self.path, sum(s.nbytes for s in a.segments))


class _Reader:
    """A forward-only msgpack pull parser over a file, with absolute positions."""

    def __init__(self, fh: BinaryIO, size: int, where: str) -> None:
        self.fh = fh
        self.size = size
        self.where = where
        self.pos = 0
        self.buf = b""
        self.buf_start = 0

    def fail(self, problem: str, **kwargs: Any) -> FormatError:
        return FormatError(f"{problem} (at byte {self.pos})", where=self.where, **kwargs)

    def remaining(self) -> int:
        return self.size - self.pos

    def read(self, n: int) -> bytes:
        if n > self.remaining():
            raise self.fail("the file ends early", expected=f"{n} more bytes", received=f"{self.remaining()} left")
        offset = self.pos - self.buf_start
        if offset < 0 or offset + n > len(self.buf):
            self.fh.seek(self.pos)
            self.buf = self.fh.read(max(n, 1 << 16))
            self.buf_start = self.pos
            offset = 0
        self.pos += n
        return self.buf[offset : offset + n]

    def skip(self, n: int) -> int:
        if n > self.remaining():
            raise self.fail("the file ends inside an array's bytes", expected=f"{n} more bytes", received=f"{self.remaining()} left")
        start = self.pos
        self.pos += n
        return start

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    # -- generic values ------------------------------------------------------------
    def header(self) -> tuple[str, int]:
        """Next value's kind and its length/count, or ('value', 0) for scalars."""
        b = self.read(1)[0]
        if b <= 0x7F or b >= 0xE0:
            return "int", b if b <= 0x7F else b - 256
        if 0x80 <= b <= 0x8F:
            return "map", b & 0x0F
        if 0x90 <= b <= 0x9F:
            return "array", b & 0x0F
        if 0xA0 <= b <= 0xBF:
            return "str", b & 0x1F
        simple = {
            0xC0: ("nil", 0), 0xC2: ("bool", 0), 0xC3: ("bool", 1),
        }
        if b in simple:
            return simple[b]
        sized = {
            0xC4: ("bin", "<B"), 0xC5: ("bin", ">H"), 0xC6: ("bin", ">I"),
            0xD9: ("str", "<B"), 0xDA: ("str", ">H"), 0xDB: ("str", ">I"),
            0xDC: ("array", ">H"), 0xDD: ("array", ">I"), 0xDE: ("map", ">H"), 0xDF: ("map", ">I"),
        }
        if b in sized:
            kind, fmt = sized[b]
            return kind, self.unpack(fmt)
        ints = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
        if b in ints:
            return "int", self.unpack(ints[b])
        if b == 0xCA:
            return "float", 4
        if b == 0xCB:
            return "float", 8
        fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
        if b in fixext:
            return "ext", fixext[b]
        if b in (0xC7, 0xC8, 0xC9):
            return "ext", self.unpack({0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[b])
        raise self.fail(f"invalid msgpack type byte 0x{b:02x}")

    def string(self, kind: str, n: int) -> str:
        if kind != "str":
            raise self.fail("map keys must be strings", received=kind)
        try:
            return self.read(n).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("a key is not valid UTF-8") from None

    def small_value(self, depth: int = 0) -> Any:
        """Decode a small value completely (shapes, chunk indexes, flags)."""
        if depth > _MAX_DEPTH:
            raise self.fail("nesting is too deep")
        kind, n = self.header()
        if kind in ("int", "bool"):
            return n if kind == "int" else bool(n)
        if kind == "nil":
            return None
        if kind == "float":
            return self.unpack(">f" if n == 4 else ">d")
        if kind == "str":
            return self.string(kind, n)
        if kind == "bin":
            return self.read(n)
        if kind == "array":
            self.check_count(n)
            return [self.small_value(depth + 1) for _ in range(n)]
        raise self.fail(f"unexpected {kind} inside array metadata")

    def check_count(self, n: int) -> None:
        if n > self.remaining():  # every entry takes at least one byte
            raise self.fail("a container claims more entries than bytes remain", received=n)


def _parse_ext_array(r: _Reader, code: int, length: int, where: str) -> _Array:
    if code not in (1, 3):
        raise r.fail("unknown msgpack extension type", expected="1 (ndarray) or 3 (numpy scalar)", received=code)
    end = r.pos + length
    kind, count = r.header()
    if kind != "array" or count != 3:
        raise r.fail("an array payload must be (shape, dtype, bytes)")
    shape = r.small_value()
    kind, n = r.header()
    if kind not in ("str", "bin"):
        raise r.fail("an array's dtype must be a string")
    raw_name = r.read(n)
    try:
        dtype_name = raw_name.decode("ascii")
    except UnicodeDecodeError:
        dtype_name = None
    if dtype_name not in DTYPES:
        raise FormatError("unsupported array dtype", where=where, expected="one of " + ", ".join(DTYPES), received=raw_name[:40])
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise FormatError("an array's shape must be a list of non-negative integers", where=where, received=shape)
    check_shape(tuple(shape), DTYPES[dtype_name].itemsize, where=where)
    kind, nbytes = r.header()
    if kind != "bin":
        raise r.fail("an array's data must be bytes")
    expected = math.prod(shape) * DTYPES[dtype_name].itemsize
    if nbytes != expected:
        raise FormatError(
            "an array's byte count does not match its shape and dtype",
            where=where, expected=f"{expected} bytes for {dtype_name} {shape}", received=f"{nbytes} bytes",
        )
    start = r.skip(nbytes)
    if r.pos != end:
        raise r.fail("an array payload has extra bytes")
    return _Array(dtype_name, tuple(shape), (_Segment(start, nbytes),))


def _parse_chunked(r: _Reader, count: int, where: str) -> _Array:
    fields: dict[str, Any] = {}
    for _ in range(count):
        key = r.string(*r.header())
        if key in fields:
            raise FormatError(f"the key {key!r} appears twice in a chunked array", where=where)
        if key == _CHUNKED:
            fields[key] = r.small_value()
        elif key == "shape":
            kind, n = r.header()
            if kind != "map":
                raise FormatError("a chunked array's shape must be a map", where=where)
            r.check_count(n)
            fields[key] = {r.string(*r.header()): r.small_value() for _ in range(n)}
        elif key == "chunks":
            kind, n = r.header()
            if kind != "map":
                raise FormatError("a chunked array's chunks must be a map", where=where)
            r.check_count(n)
            parsed: dict[str, _Array] = {}
            for _ in range(n):
                index = r.string(*r.header())
                kind, length = r.header()
                if kind != "ext":
                    raise FormatError("a chunk must be an array", where=where)
                code = r.unpack(">b")
                parsed[index] = _parse_ext_array(r, code, length, f"{where} chunk {index}")
            fields[key] = parsed
        else:
            raise FormatError("unexpected key in a chunked array", where=where, received=key)
    if fields.get(_CHUNKED) is not True or "shape" not in fields or "chunks" not in fields:
        raise FormatError("a chunked array needs the flag, shape and chunks", where=where)

    def ordered(mapping: dict[str, Any], what: str) -> list[Any]:
        if sorted(mapping) != sorted(str(i) for i in range(len(mapping))):
            raise FormatError(f"a chunked array's {what} must be numbered 0..n-1", where=where, received=sorted(mapping)[:10])
        return [mapping[str(i)] for i in range(len(mapping))]

    shape = ordered(fields["shape"], "shape")
    chunks = ordered(fields["chunks"], "chunks")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise FormatError("a chunked array's shape must hold non-negative integers", where=where, received=shape)
    dtypes = {c.dtype for c in chunks}
    if len(dtypes) != 1 or any(len(c.shape) != 1 for c in chunks):
        raise FormatError("chunks must be flat arrays of one dtype", where=where, received=sorted(dtypes))
    dtype = dtypes.pop()
    if sum(c.shape[0] for c in chunks) != math.prod(shape):
        raise FormatError("the chunks do not add up to the shape", where=where, expected=math.prod(shape),
                          received=sum(c.shape[0] for c in chunks))
    return _Array(dtype, tuple(shape), tuple(seg for c in chunks for seg in c.segments))


def _walk(r: _Reader, prefix: str, count: int, depth: int, arrays: dict[str, _Array]) -> None:
    if depth > _MAX_DEPTH:
        raise r.fail("nesting is too deep")
    r.check_count(count)
    seen: set[str] = set()
    for _ in range(count):
        key = r.string(*r.header())
        if key in seen:
            raise r.fail(f"the key {key!r} appears twice in one map")
        seen.add(key)
        if "/" in key or not key:
            raise r.fail("a parameter name must be non-empty and contain no '/'", received=key)
        name = f"{prefix}/{key}" if prefix else key
        kind, n = r.header()
        if kind == "map":
            start = r.pos
            first = r.header() if n else None
            if first and first[0] == "str":
                peek = r.read(first[1])
                is_chunked = peek == _CHUNKED.encode()
            else:
                is_chunked = False
            r.pos = start  # rewind to the first key (still inside the buffer)
            if is_chunked:
                arrays[name] = _parse_chunked(r, n, f"{r.where} (tensor {name!r})")
            else:
                _walk(r, name, n, depth + 1, arrays)
        elif kind == "ext":
            code = r.unpack(">b")
            arrays[name] = _parse_ext_array(r, code, n, f"{r.where} (tensor {name!r})")
        else:
            raise r.fail(f"unsupported value for {name!r}", expected="a map or an array", received=kind)


def read_layout(path: str | os.PathLike[str]) -> MsgpackLayout:
    """Walk the file's structure and record where every array's bytes are; no array data is read."""
    where = os.fspath(path)
    with open(where, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        r = _Reader(fh, size, where)
        if size == 0:
            raise FormatError("the file is empty", where=where)
        kind, n = r.header()
        if kind != "map":
            raise FormatError("the top level must be a map of parameters", where=where, received=kind)
        arrays: dict[str, _Array] = {}
        _walk(r, "", n, 0, arrays)
        if r.pos != size:
            raise FormatError("stray bytes after the parameters", where=where, expected=f"{r.pos} bytes", received=f"{size} bytes")
    return MsgpackLayout(where, arrays)


def _read(layout: MsgpackLayout, name: str, fd: int | None = None) -> np.ndarray:
    try:
        array = layout.arrays[name]
    except KeyError:
        raise FormatError(f"no tensor named {name!r}", where=layout.path) from None
    where = f"{layout.path} (tensor {name!r})"
    if len(array.segments) == 1:
        seg = array.segments[0]
        return read_array(layout.path, seg.offset, array.dtype, array.shape, where=where, fd=fd)
    itemsize = DTYPES[array.dtype].itemsize
    parts = [read_array(layout.path, s.offset, array.dtype, (s.nbytes // itemsize,), where=where, fd=fd) for s in array.segments]
    return np.concatenate(parts).reshape(array.shape)


def list_tensors(path: str | os.PathLike[str]) -> dict[str, TensorInfo]:
    layout = read_layout(path)
    return {name: layout.info(name) for name in layout.arrays}


def read_tensor(path: str | os.PathLike[str], name: str, *, layout: MsgpackLayout | None = None) -> np.ndarray:
    return _read(layout or read_layout(path), name)


def iter_tensors(path: str | os.PathLike[str]) -> Iterator[tuple[str, np.ndarray]]:
    layout = read_layout(path)
    fd = os.open(layout.path, os.O_RDONLY)
    try:
        for name in layout.arrays:
            yield name, _read(layout, name, fd)
    finally:
        os.close(fd)


# -- writing ---------------------------------------------------------------------------
def _pack_str(s: str) -> bytes:
    return msgpack.packb(s, use_bin_type=True)


def _map_header(n: int) -> bytes:
    if n <= 15:
        return bytes([0x80 | n])
    return b"\xde" + struct.pack(">H", n) if n <= 0xFFFF else b"\xdf" + struct.pack(">I", n)


def _ext_header(code: int, length: int) -> bytes:
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if length in fixed:
        return bytes([fixed[length], code])
    if length <= 0xFF:
        return b"\xc7" + struct.pack(">BB", length, code)
    if length <= 0xFFFF:
        return b"\xc8" + struct.pack(">Hb", length, code)
    return b"\xc9" + struct.pack(">Ib", length, code)


def _bin_header(n: int) -> bytes:
    if n <= 0xFF:
        return b"\xc4" + struct.pack(">B", n)
    if n <= 0xFFFF:
        return b"\xc5" + struct.pack(">H", n)
    return b"\xc6" + struct.pack(">I", n)


def _write_array(fh: BinaryIO, array: np.ndarray | FileBytes, dtype: str, shape: tuple[int, ...]) -> None:
    prefix = b"\x93" + msgpack.packb(list(shape)) + _pack_str(dtype) + _bin_header(array.nbytes)
    fh.write(_ext_header(1, len(prefix) + array.nbytes))
    fh.write(prefix)
    write_array(fh, array)


def write(path: str | os.PathLike[str], tensors: Sequence[tuple[str, TensorLike]]) -> None:
    """Write ``/``-joined names as flax's nested map, one tensor in memory at a time.

    The bytes are what ``flax.serialization.to_bytes`` writes for the same tree
    (arrays over 2**30 bytes as flax's chunked form).
    """
    where = os.fspath(path)
    tree: dict[str, Any] = {}
    for name, tensor in tensors:
        parts = name.split("/")
        if any(not p for p in parts):
            raise FormatError("a Flax parameter path must not have empty parts", where=where, received=name)
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise FormatError("a parameter path runs through a tensor", where=where, received=name)
        if parts[-1] in node:
            raise FormatError("a tensor name is given twice or is also a prefix", where=where, received=name)
        node[parts[-1]] = tensor

    def leaves(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, TensorLike]]:
        for key, value in node.items():
            name = f"{prefix}/{key}" if prefix else key
            yield from leaves(value, name) if isinstance(value, dict) else [(name, value)]

    # the tree's order is the write order: the arrays come in it, the next one loading while one is written
    with open(where, "wb") as fh, contextlib.closing(prefetched(list(leaves(tree, "")), where=where)) as arrays:

        def emit(node: dict[str, Any], prefix: str) -> None:
            fh.write(_map_header(len(node)))
            for key, value in node.items():
                fh.write(_pack_str(key))
                name = f"{prefix}/{key}" if prefix else key
                if isinstance(value, dict):
                    emit(value, name)
                    continue
                dtype, shape = info_of(value)
                _, array = next(arrays)
                if array.nbytes <= MAX_CHUNK_SIZE:
                    _write_array(fh, array, dtype, shape)
                    continue
                itemsize = DTYPES[dtype].itemsize
                step = max(1, MAX_CHUNK_SIZE // itemsize) * itemsize  # bytes per chunk
                if isinstance(array, FileBytes):
                    pieces: list[FileBytes | np.ndarray] = [array.part(i, i + step) for i in range(0, array.nbytes, step)]
                else:
                    flat = array.reshape(-1).view(np.uint8)
                    pieces = [flat[i : i + step].view(array.dtype) for i in range(0, flat.size, step)]
                fh.write(_map_header(3) + _pack_str(_CHUNKED) + b"\xc3")
                fh.write(_pack_str("shape") + _map_header(len(shape)))
                for i, d in enumerate(shape):
                    fh.write(_pack_str(str(i)) + msgpack.packb(d))
                fh.write(_pack_str("chunks") + _map_header(len(pieces)))
                for i, piece in enumerate(pieces):
                    fh.write(_pack_str(str(i)))
                    _write_array(fh, piece, dtype, (piece.nbytes // itemsize,))

        emit(tree, "")
