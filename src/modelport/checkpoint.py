"""``Checkpoint``: any transformers 4.x checkpoint, opened with numpy alone.

>>> ckpt = Checkpoint.open("path/to/model")          # doctest: +SKIP
>>> ckpt.framework, ckpt.format, len(ckpt)          # doctest: +SKIP
('pt', 'safetensors', 104)
>>> ckpt["embeddings.word_embeddings.weight"].shape  # doctest: +SKIP
(30522, 384)

Names are the ones the writing framework stored, with one normalisation: TF
names never carry the model scope (``tf_bert_model/``), whether they come from
an unsharded ``tf_model.h5``, a shard, an index or a TF safetensors file, so a
TF checkpoint has the same names in every layout. Only headers are read on
open; tensors are read one at a time, on demand.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import frameworks
from .dtypes import DTYPES
from .errors import CheckpointNotFoundError, FormatError
from .filenames import WEIGHTS_NAMES, index_name, variant_name
from .formats import registry as formats
from .formats.base import FileBytes, LazyTensor, TensorInfo, file_identity
from .fsutil import folder_lock
from .index import CheckpointIndex, link_stays_inside, read_index
from .saving import recover_interrupted_save

__all__ = ["Checkpoint", "WEIGHTS_NAMES", "sniff_format"]

logger = logging.getLogger(__name__)

def sniff_format(path: str | os.PathLike[str]) -> str:
    """The format of a weights file, from its first bytes (never from its name)."""
    return formats.sniff(path)


@dataclass
class _Source:
    """One opened weights file: its format's reader, and the file's identity when its header was checked."""

    path: Path
    format: str
    reader: formats.Reader
    identity: tuple[int, ...]

    @property
    def infos(self) -> dict[str, TensorInfo]:
        return self.reader.infos

    def read(self, name: str) -> np.ndarray:
        array = self.reader.read(name)
        self.check_unchanged(name)
        return array

    def check_unchanged(self, name: str) -> None:
        """The header was checked against the file as it was then; a file replaced or
        rewritten since (a concurrent save, a download) must not be read through it."""
        try:
            same = file_identity(self.path) == self.identity
        except OSError:
            same = False
        if not same:
            raise FormatError(
                "the file changed after it was opened",
                where=f"{self.path} (tensor {name!r})",
                fix="Another process replaced or rewrote it; open the checkpoint again.",
            )

    def file_bytes(self, name: str) -> FileBytes | None:
        """Where the tensor's bytes are, exactly as an array's (little-endian, C order), if the file stores them so."""
        info = self.infos[name]
        if info.dtype == "bool":  # its bytes must be checked to be 0 or 1 on the way
            return None
        offset = self.reader.offset(name)
        if offset is None:
            return None
        return FileBytes(str(self.path), offset, info.nbytes, lambda: self.check_unchanged(name))


def _open_source(path: Path, fmt: str) -> _Source:
    identity = file_identity(path)
    reader = formats.get(fmt).open(path)
    if file_identity(path) != identity:
        raise FormatError("the file changed while its header was being read", where=os.fspath(path),
                          fix="Another process is writing it; open the checkpoint again when it is done.")
    return _Source(path, fmt, reader, identity)


def _strip_scope(name: str) -> str:
    head, sep, rest = name.partition("/")
    return rest if sep else name


class Checkpoint:
    """A checkpoint folder (or single weights file), read lazily.

    Attributes:
        path: the folder (or file) opened.
        framework: ``"pt"``, ``"tf"`` or ``"flax"``: whose names are inside.
        format: ``"safetensors"``, ``"bin"``, ``"h5"``, ``"msgpack"`` or ``"gguf"`` (a llama.cpp file, read only).
        files: the weights files, in order.
        index: the parsed ``*.index.json`` of a sharded checkpoint, else None.
        metadata: the safetensors ``__metadata__`` (or index ``metadata``).
    """

    def __init__(self, path: Path, fmt: str, framework: str, sources: list[_Source], index: CheckpointIndex | None, metadata: dict) -> None:
        self.path = path
        self.format = fmt
        self.framework = framework
        self.index = index
        self.metadata = metadata
        self._sources = sources
        self._where: dict[str, _Source] = {}
        for source in sources:
            for name in source.infos:
                self._where[name] = source

    @property
    def gguf_config(self) -> dict[str, Any]:
        """A GGUF file's config values from its metadata (``model_type``, sizes, token ids, ties)."""
        if self.format != "gguf":
            raise FormatError("only a GGUF file carries its config in the weights", where=os.fspath(self.path),
                              received=self.format, fix="Read config.json with AutoConfig.from_pretrained instead.")
        return dict(self._sources[0].reader.config)  # type: ignore[attr-defined]

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, format: str | None = None, variant: str | None = None) -> Checkpoint:
        """Open a folder or a single weights file.

        In a folder, the first of ``model.safetensors``, ``pytorch_model.bin``,
        ``tf_model.h5``, ``flax_model.msgpack`` (or its sharded index) found is
        used, unless ``format`` names one.

        Raises:
            CheckpointNotFoundError: no weights in the folder.
            FormatError: a file is malformed, or its content is not what its name says.
        """
        target = Path(os.fspath(path))
        if target.is_file():
            return cls._open_file(target, format)
        if not target.is_dir():
            raise CheckpointNotFoundError("no such file or folder", where=os.fspath(target))
        recover_interrupted_save(target)
        # A shared lock: a save (which holds the exclusive one) never swaps files while
        # this reads the index and every shard's header, so they are one version.
        with folder_lock(target, shared=True):
            return cls._open_folder(target, format, variant)

    @classmethod
    def _open_folder(cls, target: Path, format: str | None, variant: str | None) -> Checkpoint:
        for fmt in [format] if format else [name for name, spec in formats.FORMATS.items() if spec.in_folders]:
            formats.get(fmt, where="Checkpoint.open")
            name = variant_name(WEIGHTS_NAMES[fmt], variant)
            single, indexed = target / name, target / index_name(WEIGHTS_NAMES[fmt], variant)
            if single.is_file() and indexed.is_file():
                logger.warning("%s: both %s and %s exist; using the single file.", target, single.name, indexed.name)
            if single.is_file():
                if not link_stays_inside(single, target):
                    raise FormatError("the weights file links outside the checkpoint folder", where=os.fspath(single),
                                      fix="Copy the file into the folder instead of linking it.")
                return cls._open_file(single, fmt, folder=target)
            if indexed.is_file():
                return cls._open_sharded(target, indexed, fmt)
        ggufs = sorted(p.name for p in target.glob("*.gguf"))
        raise CheckpointNotFoundError(
            "no checkpoint weights found in the folder",
            where=os.fspath(target),
            expected="one of " + ", ".join(variant_name(n, variant) for n in WEIGHTS_NAMES.values()) + " (or its .index.json)",
            fix=f"It holds GGUF files ({', '.join(ggufs[:3])}): pass one, or gguf_file='{ggufs[0]}' to from_pretrained."
            if ggufs else "Point at the folder that holds the weights (or pass the weights file itself).",
        )

    @classmethod
    def _open_file(cls, file: Path, fmt: str | None, folder: Path | None = None) -> Checkpoint:
        actual = sniff_format(file)
        claimed = fmt or formats.by_extension(file)
        if claimed and claimed != actual:
            raise FormatError(
                "the file's content is not the format its name says",
                where=os.fspath(file), expected=claimed, received=actual,
                fix="Rename the file to match its content; modelport never guesses past a mismatch.",
            )
        source = _open_source(file, actual)
        metadata = dict(source.reader.metadata)
        framework = cls._framework([source], file)
        cls._check_not_empty(source.infos, file)
        return cls(folder or file, actual, framework, [source], None, metadata)

    @classmethod
    def _open_sharded(cls, folder: Path, index_file: Path, fmt: str) -> Checkpoint:
        index = read_index(index_file)
        index.check_shards_exist(folder)
        sources = []
        spec = formats.get(fmt)
        extension = spec.extension
        if spec.prefetch is not None:  # h5: one isolation child for every shard, not one each
            spec.prefetch([folder / shard for shard in index.shard_files if shard.endswith(extension)])
        for shard in index.shard_files:
            path = folder / shard
            if not shard.endswith(extension):
                raise FormatError("a shard's file name does not match the index's format", where=os.fspath(index_file),
                                  expected=f"shards named *{extension}", received=shard,
                                  fix="The index was edited or mixed with another format's; re-save or re-download the checkpoint.")
            actual = sniff_format(path)
            if actual != fmt:
                raise FormatError("a shard's content is not the index's format", where=os.fspath(path), expected=fmt, received=actual)
            sources.append(_open_source(path, fmt))
        framework = cls._framework(sources, index_file)
        weight_map = index.weight_map
        if frameworks.get(framework).scoped_index_keys:
            # TF indexes key by full variable names (with the model scope); shards store them without.
            weight_map = {_strip_scope(k): v for k, v in weight_map.items()}
        CheckpointIndex(weight_map, index.metadata, index.path).check_contents(
            {os.path.basename(s.path): list(s.infos) for s in sources}
        )
        metadata = dict(sources[0].reader.metadata)
        metadata.update({k: str(v) for k, v in index.metadata.items() if k not in metadata})
        checkpoint = cls(folder, fmt, framework, sources, index, metadata)
        declared = index.metadata.get("total_size")
        if isinstance(declared, int) and not isinstance(declared, bool):
            # tied weights are stored once, and counted once, by transformers
            stored = checkpoint.total_bytes - sum(checkpoint.info(n).nbytes for n in checkpoint.aliases())
            if declared != stored:
                logger.warning("%s: metadata.total_size is %d but the shards hold %d bytes of tensors; the shards are used.",
                               index_file, declared, stored)
        return checkpoint

    @staticmethod
    def _framework(sources: list[_Source], where: Path) -> str:
        fixed = formats.get(sources[0].format).framework
        if fixed is not None:
            return fixed
        found = {s.reader.recorded_framework or "pt" for s in sources}
        if len(found) > 1:
            raise FormatError("shards disagree about who wrote them", where=os.fspath(where), received=sorted(found))
        writer = found.pop()
        if writer not in frameworks.tags():
            logger.warning("%s: safetensors format %r; reading its names as PyTorch names.", where, writer)
            writer = "pt"
        return writer

    @staticmethod
    def _check_not_empty(infos: dict, where: Path) -> None:
        if not infos:
            raise FormatError("the checkpoint holds no tensors", where=os.fspath(where),
                              fix="The file is empty or was saved from a model without weights.")

    # -- reading ---------------------------------------------------------------------
    @property
    def files(self) -> list[Path]:
        return [s.path for s in self._sources]

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def _source(self, name: str) -> _Source:
        try:
            return self._where[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in the checkpoint {self.path}") from None

    def info(self, name: str) -> TensorInfo:
        """dtype, shape, bytes and file of one tensor, from the header."""
        return self._source(name).infos[name]

    def __getitem__(self, name: str) -> np.ndarray:
        return self._source(name).read(name)

    def file_bytes(self, name: str) -> FileBytes | None:
        """Where a tensor's bytes lie in its file, unchanged, when a writer may copy them file to file
        (safetensors; h5 datasets stored plainly and little-endian); None otherwise."""
        return self._source(name).file_bytes(name)

    def mappable_bytes(self, name: str) -> FileBytes | None:
        """:meth:`file_bytes`, for formats a loader may memory-map (``FileFormat.mappable``: safetensors and ``.bin``,
        parsed in this process); None for the others (h5 is parsed in an isolation child)."""
        return self.file_bytes(name) if formats.get(self._source(name).format).mappable else None

    def lazy(self, name: str) -> LazyTensor:
        """The tensor as a :class:`LazyTensor`: known dtype and shape, read when loaded."""
        info = self.info(name)
        return LazyTensor(info.dtype, info.shape, lambda: self[name])

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, array)`` for every tensor, one in memory at a time."""
        for name in self:
            yield name, self[name]

    @property
    def total_bytes(self) -> int:
        return sum(self.info(n).nbytes for n in self)

    @property
    def num_values(self) -> int:
        return sum(math.prod(self.info(n).shape) for n in self)

    @property
    def num_parameters(self) -> int:
        """Floating-point values only (integer buffers such as position ids are not weights)."""

        return sum(math.prod(self.info(n).shape) for n in self if DTYPES[self.info(n).dtype].is_floating)

    def aliases(self) -> dict[str, str]:
        """Tensors stored as views of another tensor's storage (tied weights in ``.bin`` files)."""
        out: dict[str, str] = {}
        for source in self._sources:
            out.update(source.reader.aliases())
        return out

    def __repr__(self) -> str:
        return f"<Checkpoint {self.path} framework={self.framework} format={self.format} tensors={len(self)} files={len(self._sources)}>"
