"""PyTorch ``.bin`` checkpoints (``torch.save``'s zip + pickle), read without torch.

The archive is checked before anything is read from it: every member stored
uncompressed (torch never compresses), no duplicate names, one top-level
folder, no overlapping members (the zip-bomb trick this Python's zipfile does
not catch), ``data.pkl`` and ``version`` present. The pickle goes through an
allow-list interpreter (:mod:`modelport.formats._pickle`) that never calls
anything from the file. Each tensor view is checked against the bytes its
storage member really holds before any data is read.

Writing ``.bin`` files is the torch adapter's job (``torch.save``).
"""

from __future__ import annotations

import logging
import math
import os
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..dtypes import DTYPES
from ..errors import FormatError
from ._pickle import MAX_PICKLE_BYTES, TensorRef, load_state_dict_pickle
from .base import TensorInfo, read_array

__all__ = ["TorchArchive", "open_archive", "list_tensors", "read_tensor", "iter_tensors", "aliases"]

logger = logging.getLogger(__name__)

_ZIP_MAGIC = b"PK\x03\x04"
_MAX_MEMBERS = 1_000_000


@dataclass(frozen=True)
class _Member:
    name: str
    data_start: int
    size: int


@dataclass
class TorchArchive:
    """A checked ``torch.save`` archive: its tensors as views of storage members."""

    path: str
    root: str
    members: dict[str, _Member]
    tensors: dict[str, TensorRef]
    big_endian: bool

    def info(self, name: str) -> TensorInfo:
        ref = self.tensors[name]
        return TensorInfo(name, ref.dtype, ref.shape, self.path, math.prod(ref.shape) * DTYPES[ref.dtype].itemsize)

    def offset(self, name: str) -> int | None:
        """Where a tensor's bytes lie as a little-endian C-order array's: a contiguous view of a stored member
        (torch.save writes members uncompressed); None for strided views and big-endian archives."""
        ref = self.tensors[name]
        if self.big_endian or not _is_c_contiguous(ref.shape, ref.stride):
            return None
        return self.members[f"{self.root}/data/{ref.storage.key}"].data_start + ref.offset * DTYPES[ref.dtype].itemsize

    def read(self, name: str, fd: int | None = None) -> np.ndarray:
        try:
            ref = self.tensors[name]
        except KeyError:
            raise FormatError(f"no tensor named {name!r}", where=self.path) from None
        member = self.members[f"{self.root}/data/{ref.storage.key}"]
        itemsize = DTYPES[ref.dtype].itemsize
        dtype = DTYPES[ref.dtype].numpy
        if self.big_endian:
            dtype = dtype.newbyteorder(">")
        start = member.data_start + ref.offset * itemsize
        if _is_c_contiguous(ref.shape, ref.stride) or not all(ref.shape):
            # the common case: one positioned read straight into the result
            array = read_array(self.path, start, ref.dtype, ref.shape, where=f"{self.path} (tensor {name!r})", fd=fd)
            return array.view(dtype).astype(DTYPES[ref.dtype].numpy) if self.big_endian else array
        # The span of storage elements the view touches (bounds were checked on open).
        span = 1 + sum((d - 1) * s for d, s in zip(ref.shape, ref.stride))
        flat = np.frombuffer(_pread(self.path, start, span * itemsize, fd), dtype=dtype, count=span)
        array = np.array(np.lib.stride_tricks.as_strided(flat, shape=ref.shape, strides=[s * itemsize for s in ref.stride]))
        if self.big_endian:
            array = array.astype(DTYPES[ref.dtype].numpy)
        return array


def _is_c_contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expected = 1
    for d, s in zip(reversed(shape), reversed(stride)):
        if d != 1 and s != expected:
            return False
        expected *= d
    return True


def _pread(path: str, offset: int, n: int, fd: int | None) -> bytes:
    own = fd is None
    handle = os.open(path, os.O_RDONLY) if fd is None else fd
    try:
        chunks, done = [], 0
        while done < n:
            chunk = os.pread(handle, n - done, offset + done)
            if not chunk:
                raise FormatError("the file ends inside a tensor's data", where=path, expected=f"{n} bytes", received=f"{done} bytes")
            chunks.append(chunk)
            done += len(chunk)
        return b"".join(chunks)
    finally:
        if own:
            os.close(handle)


def _check_members(zf: zipfile.ZipFile, path: str, file_size: int) -> dict[str, _Member]:
    infos = zf.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise FormatError("too many zip members", where=path, received=len(infos))
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:5]
        raise FormatError("duplicate zip member names", where=path, received=dup)
    members: dict[str, _Member] = {}
    spans = []
    with open(path, "rb") as fh:
        for info in infos:
            where = f"{path} (member {info.filename!r})"
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise FormatError(
                    "a zip member is compressed", where=where, expected="stored members only, as torch.save writes them",
                    received=f"compression method {info.compress_type}",
                )
            if info.flag_bits & 0x1:
                raise FormatError("a zip member is encrypted", where=where)
            if not 0 <= info.header_offset <= file_size - 30:
                raise FormatError("a zip member's local header is outside the file", where=where, received=info.header_offset)
            fh.seek(info.header_offset)
            local = fh.read(30)
            if len(local) < 30 or local[:4] != _ZIP_MAGIC:
                raise FormatError("a zip member's local header is missing", where=where)
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            data_start = info.header_offset + 30 + name_len + extra_len
            end = data_start + info.compress_size
            if end > file_size:
                raise FormatError("a zip member runs past the end of the file", where=where, expected=f"end <= {file_size}", received=end)
            spans.append((info.header_offset, end, info.filename))
            members[info.filename] = _Member(info.filename, data_start, info.file_size)
    spans.sort()
    for (_, end_a, name_a), (start_b, _, name_b) in zip(spans, spans[1:]):
        if start_b < end_a:
            raise FormatError("zip members overlap (a zip-bomb pattern)", where=path, received=[name_a, name_b])
    central_start = getattr(zf, "start_dir", None)
    if spans and isinstance(central_start, int) and spans[-1][1] > central_start:
        raise FormatError("a zip member overlaps the central directory", where=path, received=spans[-1][2])
    return members


def open_archive(path: str | os.PathLike[str]) -> TorchArchive:
    """Open and check a ``torch.save`` zip archive; no tensor data is read."""
    where = os.fspath(path)
    with open(where, "rb") as fh:
        magic = fh.read(4)
        file_size = os.fstat(fh.fileno()).st_size
    if magic != _ZIP_MAGIC:
        legacy = magic[:2] == b"\x80\x02" or magic[:1] == b"\x80"
        raise FormatError(
            "not a zip archive" + (" (the legacy, pre-1.6 torch.save format)" if legacy else ""),
            where=where,
            expected="a torch.save zip archive starting with PK\\x03\\x04",
            received=magic,
            fix="Re-save it with a current PyTorch (torch.save uses the zip format since 1.6), or as safetensors." if legacy else None,
        )
    try:
        with zipfile.ZipFile(where) as zf:
            members = _check_members(zf, where, file_size)
    except FormatError:
        raise
    # zipfile reports damage in many ways: bad names (UnicodeDecodeError), versions it
    # cannot read (NotImplementedError), impossible offsets (OSError, ValueError), short
    # records (EOFError, struct.error)
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError, struct.error, KeyError,
            IndexError, OverflowError) as exc:
        raise FormatError(f"damaged zip archive ({type(exc).__name__}: {str(exc)[:120]})", where=where) from None

    roots = {name.split("/", 1)[0] for name in members}
    if len(roots) != 1 or any("/" not in name for name in members):
        raise FormatError("the archive must hold one top-level folder", where=where, received=sorted(roots)[:5])
    root = roots.pop()
    for required in ("data.pkl", "version"):
        if f"{root}/{required}" not in members:
            raise FormatError(f"the archive has no {required}", where=where, expected=f"{root}/{required}")
    big_endian = False
    if f"{root}/byteorder" in members:
        order = _pread(where, members[f"{root}/byteorder"].data_start, members[f"{root}/byteorder"].size, None)
        if order not in (b"little", b"big"):
            raise FormatError("unknown byte order record", where=where, received=order[:20])
        big_endian = order == b"big"

    pkl = members[f"{root}/data.pkl"]
    if pkl.size > MAX_PICKLE_BYTES:
        raise FormatError("data.pkl is too large for a state dict", where=where, received=pkl.size)
    state = load_state_dict_pickle(_pread(where, pkl.data_start, pkl.size, None), where=f"{where} (data.pkl)")
    if not isinstance(state, dict):
        raise FormatError("the pickle does not hold a state dict", where=where, received=type(state).__name__)
    tensors: dict[str, TensorRef] = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise FormatError("state dict keys must be strings", where=where, received=name)
        if isinstance(value, TensorRef):
            tensors[name] = value
        else:
            logger.warning("%s: skipping %r, which is not a tensor (%s)", where, name, type(value).__name__)
    archive = TorchArchive(where, root, members, tensors, big_endian)
    for name, ref in tensors.items():
        _check_view(archive, name, ref)
    return archive


def _check_view(archive: TorchArchive, name: str, ref: TensorRef) -> None:
    where = f"{archive.path} (tensor {name!r})"
    member_name = f"{archive.root}/data/{ref.storage.key}"
    member = archive.members.get(member_name)
    if member is None:
        raise FormatError("the tensor's storage has no data member", where=where, expected=member_name)
    itemsize = DTYPES[ref.dtype].itemsize
    storage_bytes = ref.storage.numel * (DTYPES[ref.storage.dtype].itemsize if ref.storage.dtype else 1)
    if member.size != storage_bytes:
        raise FormatError(
            "the storage's declared size does not match its data member",
            where=f"{archive.path} (member {member_name!r})",
            expected=f"{storage_bytes} bytes",
            received=f"{member.size} bytes",
        )
    if all(ref.shape):
        last = ref.offset + sum((d - 1) * s for d, s in zip(ref.shape, ref.stride))
        if (last + 1) * itemsize > storage_bytes:
            raise FormatError(
                "the tensor view reaches past the end of its storage",
                where=where,
                expected=f"at most {storage_bytes} bytes",
                received=f"a view ending at byte {(last + 1) * itemsize}",
            )


def list_tensors(path: str | os.PathLike[str]) -> dict[str, TensorInfo]:
    """Names, dtypes and shapes, from the pickle alone."""
    archive = open_archive(path)
    return {name: archive.info(name) for name in archive.tensors}


def read_tensor(path: str | os.PathLike[str], name: str, *, archive: TorchArchive | None = None) -> np.ndarray:
    """One tensor, exactly as stored."""
    return (archive or open_archive(path)).read(name)


def iter_tensors(path: str | os.PathLike[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor in the pickle's order, one in memory at a time."""
    archive = open_archive(path)
    fd = os.open(archive.path, os.O_RDONLY)
    try:
        for name in archive.tensors:
            yield name, archive.read(name, fd)
    finally:
        os.close(fd)


def aliases(archive: TorchArchive) -> dict[str, str]:
    """Names that are the same view of the same storage as an earlier name (tied weights), mapped to it."""
    seen: dict[tuple, str] = {}
    out: dict[str, str] = {}
    for name, ref in archive.tensors.items():
        key = (ref.storage.key, ref.dtype, ref.offset, ref.shape, ref.stride)
        if key in seen:
            out[name] = seen[key]
        else:
            seen[key] = name
    return out
