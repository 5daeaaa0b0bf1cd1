"""The checkpoint file formats as registered data: one record each, one reader surface for all.

``Checkpoint`` (reading), ``save_checkpoint`` (writing) and the converter look
a format up here instead of branching on its name. Each record says how to
recognise a file (its first bytes), the transformers file name, whose names it
holds (a fixed checkpoint framework, or one recorded in the file), how to open
it for reading (:class:`Reader`) and how to write it (or which adapter does:
``.bin`` files are written by ``torch.save``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..dtypes import DTYPES
from ..errors import FormatError
from ..filenames import WEIGHTS_NAMES
from . import flax_msgpack, gguf, keras_h5, torch_zip
from . import safetensors as st
from .base import TensorInfo, TensorLike

__all__ = ["Reader", "FileFormat", "FORMATS", "get", "sniff", "by_extension"]


class Reader(Protocol):
    """One opened weights file: its header parsed, its tensors read on demand."""

    infos: dict[str, TensorInfo]
    #: the checkpoint framework recorded in the file (safetensors' ``format``), or None
    recorded_framework: str | None
    metadata: dict[str, str]

    def read(self, name: str) -> np.ndarray: ...
    def offset(self, name: str) -> int | None:
        """Where the tensor's bytes lie exactly as a little-endian C-order array's, or None."""
    def aliases(self) -> dict[str, str]: ...


Writer = Callable[..., Any]  # (path, items, *, framework, metadata, scope, sharded) -> None


@dataclass(frozen=True)
class FileFormat:
    name: str
    weights_name: str  # the transformers file name (``model.safetensors``)
    open: Callable[[Path], Reader]
    #: the core's writer; None when an adapter writes the format (``Adapter.file_writer``)
    write: Writer | None
    #: the checkpoint framework whose names the format holds; None: recorded in each file
    framework: str | None
    #: read every shard's layout at once before opening them (one isolation child for all h5 shards)
    prefetch: Callable[[list[Path]], None] | None = None
    #: dtypes the format has no type for, stored in a tagged form only modelport reads back
    tagged_dtypes: tuple[str, ...] = ()
    #: files of this format store tied copies under both names (``torch.save`` of a state dict does)
    keeps_tied_copies: bool = False
    #: a loader may memory-map tensors' bytes straight from the file (the bytes lie as arrays' do, and the
    #: file is parsed in this process); h5 is parsed in an isolation child and is never mapped
    mappable: bool = False
    #: a folder is searched for it under ``weights_name``; GGUF files have no fixed name (pass the file, or gguf_file=)
    in_folders: bool = True

    @property
    def extension(self) -> str:
        return Path(self.weights_name).suffix


# -- readers ---------------------------------------------------------------------------------------
class _Safetensors:
    def __init__(self, path: Path) -> None:
        self.path, self.header = path, st.read_header(path)
        self.infos = self.header.tensors
        self.recorded_framework: str | None = self.header.format or "pt"
        self.metadata = dict(self.header.metadata)

    def read(self, name: str) -> np.ndarray:
        return st.read_tensor(self.path, name, header=self.header)

    def offset(self, name: str) -> int | None:
        return self.header.data_start + self.header.offsets[name][0]

    def aliases(self) -> dict[str, str]:
        return {}


class _TorchZip:
    recorded_framework: str | None = None

    def __init__(self, path: Path) -> None:
        self.archive = torch_zip.open_archive(path)
        self.infos = {n: self.archive.info(n) for n in self.archive.tensors}
        self.metadata: dict[str, str] = {}

    def read(self, name: str) -> np.ndarray:
        return self.archive.read(name)

    def offset(self, name: str) -> int | None:
        return self.archive.offset(name)

    def aliases(self) -> dict[str, str]:
        return torch_zip.aliases(self.archive)


class _KerasH5:
    recorded_framework: str | None = None

    def __init__(self, path: Path) -> None:
        self.path, self.layout = path, keras_h5.read_layout(path)
        self.infos = keras_h5.list_tensors(path, layout=self.layout)
        self.metadata: dict[str, str] = {}

    def read(self, name: str) -> np.ndarray:
        return keras_h5.read_tensor(self.path, name, layout=self.layout)

    def offset(self, name: str) -> int | None:
        placement = self.layout.placements.get(name)
        if placement is None:
            return None
        offset, order = placement
        return None if order == ">" and DTYPES[self.infos[name].dtype].itemsize > 1 else offset

    def aliases(self) -> dict[str, str]:
        return {}


class _FlaxMsgpack:
    recorded_framework: str | None = None

    def __init__(self, path: Path) -> None:
        self.path, self.layout = path, flax_msgpack.read_layout(path)
        self.infos = {n: self.layout.info(n) for n in self.layout.arrays}
        self.metadata: dict[str, str] = {}

    def read(self, name: str) -> np.ndarray:
        return flax_msgpack.read_tensor(self.path, name, layout=self.layout)

    def offset(self, name: str) -> int | None:
        # flax.serialization stores an array's bytes as tobytes() gives them: C order, taken as little-endian
        # here as read() takes them. A chunked array's bytes lie in several places.
        segments = self.layout.arrays[name].segments
        return segments[0].offset if len(segments) == 1 else None

    def aliases(self) -> dict[str, str]:
        return {}


# -- writers ---------------------------------------------------------------------------------------
def _write_safetensors(path: Path, items: Sequence[tuple[str, TensorLike]], *, framework: str,
                       metadata: dict[str, str] | None, **_: Any) -> None:
    st.write(path, items, {**(metadata or {}), "format": framework})


def _write_h5(path: Path, items: Sequence[tuple[str, TensorLike]], *, scope: str, sharded: bool, **_: Any) -> None:
    keras_h5.write(path, items, scope=scope, sharded=sharded)


def _write_msgpack(path: Path, items: Sequence[tuple[str, TensorLike]], **_: Any) -> None:
    flax_msgpack.write(path, items)


def _is_safetensors(head: bytes) -> bool:
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 2**40


#: in the order a folder is searched
FORMATS: dict[str, FileFormat] = {
    "safetensors": FileFormat("safetensors", WEIGHTS_NAMES["safetensors"], _Safetensors, _write_safetensors, None,
                              mappable=True),
    "bin": FileFormat("bin", WEIGHTS_NAMES["bin"], _TorchZip, None, "pt", keeps_tied_copies=True, mappable=True),
    "h5": FileFormat("h5", WEIGHTS_NAMES["h5"], _KerasH5, _write_h5, "tf",
                     prefetch=lambda paths: keras_h5.prefetch_layouts(paths),
                     tagged_dtypes=("bfloat16", "float8_e4m3fn", "float8_e5m2")),
    "msgpack": FileFormat("msgpack", WEIGHTS_NAMES["msgpack"], _FlaxMsgpack, _write_msgpack, "flax"),
    # read only: llama.cpp's names and quantized blocks, presented as transformers' PyTorch names in float
    "gguf": FileFormat("gguf", "model.gguf", gguf.GGUFReader, None, "pt", in_folders=False),
}
#: how a file's first 9 bytes tell its format, tried in this order (exact signatures first, msgpack's loose one last)
_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("bin", lambda head: head[:4] == b"PK\x03\x04"),
    ("gguf", lambda head: head[:4] == gguf.MAGIC),
    ("h5", lambda head: head[:8] == b"\x89HDF\r\n\x1a\n"),
    ("safetensors", _is_safetensors),
    # a bare pickle: the legacy torch.save format, which the .bin reader refuses clearly
    ("bin", lambda head: len(head) > 2 and head[0] == 0x80 and head[1] <= 5),
    ("msgpack", lambda head: 0x80 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)),
)


def get(name: str, *, where: str = "modelport.formats") -> FileFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise FormatError("unknown checkpoint format", where=where, expected=" or ".join(FORMATS), received=name) from None


def by_extension(path: str | os.PathLike[str]) -> str | None:
    """The format a file name claims (``.h5`` -> ``h5``), or None."""
    suffix = Path(os.fspath(path)).suffix
    return next((f.name for f in FORMATS.values() if f.extension == suffix), None)


def sniff(path: str | os.PathLike[str]) -> str:
    """The format of a weights file, from its first bytes (never from its name)."""
    where = os.fspath(path)
    with open(where, "rb") as fh:
        head = fh.read(9)
    if not head:
        raise FormatError("the file is empty", where=where, fix="It was probably cut short; download or save it again.")
    for name, matches in _SIGNATURES:
        if matches(head):
            return name
    raise FormatError("not a checkpoint file of any known format", where=where, received=head[:9])
