"""Sharded checkpoint indexes (``*.index.json``): read, write, validate.

An index maps every tensor name to the shard file that holds it::

    {"metadata": {"total_size": 123}, "weight_map": {"bert.embeddings...": "model-00001-of-00002.safetensors"}}

Readers need only ``weight_map``. Because shard names come from a file that
may come from a stranger, each must be a plain file name inside the
checkpoint folder: no separators, no ``..``, no drive letters, checked under
Windows rules on every OS.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CheckpointIndexError
from .fsutil import write_text_atomic
from .jsonio import dump_json, read_json_file

__all__ = ["CheckpointIndex", "read_index", "write_index", "check_shard_name", "link_stays_inside"]

#: largest index read (huggingface_hub uses the same cap)
MAX_INDEX_BYTES = 10 * 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_shard_name(name: Any, *, where: str) -> str:
    """Return ``name`` if it is a plain file name, else raise :class:`CheckpointIndexError`."""
    problem = None
    if not isinstance(name, str) or not name:
        problem = "a shard name must be a non-empty string"
    elif "/" in name or "\\" in name or _DRIVE.match(name):
        problem = "a shard name must be a plain file name inside the checkpoint folder"
    elif name in (".", "..") or "\0" in name:
        problem = "a shard name must be a plain file name inside the checkpoint folder"
    elif len(name.encode("utf-8", "surrogatepass")) > 255:
        problem = "a shard name is longer than 255 bytes"
    if problem:
        raise CheckpointIndexError(problem, where=where, received=name, fix="The index is damaged or hostile; do not load it.")
    return name


def link_stays_inside(path: Path, folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (maybe a symbolic link) resolves inside ``folder`` or its Hub-cache blob store."""
    if not path.is_symlink():
        return True
    target = path.resolve()
    base = Path(folder).resolve()
    allowed = [base]
    for folder_or_parent in (base, *base.parents):
        if folder_or_parent.parent.name == "snapshots":  # <repo>/snapshots/<commit>[/sub]: bytes are in <repo>/blobs
            allowed.append(folder_or_parent.parent.parent / "blobs")
            break
    return any(target == root or root in target.parents for root in allowed)


@dataclass
class CheckpointIndex:
    """A parsed index: tensor name to shard file, plus the ``metadata`` object."""

    weight_map: dict[str, str]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def shard_files(self) -> list[str]:
        """The distinct shard files, sorted (``-00001-of-`` numbering sorts in write order)."""
        return sorted(set(self.weight_map.values()))

    def tensors_in(self, shard_file: str) -> list[str]:
        return [name for name, shard in self.weight_map.items() if shard == shard_file]

    def check_shards_exist(self, folder: str | os.PathLike[str]) -> None:
        """Every listed shard is a regular file in ``folder``.

        A shard may be a symbolic link only if it resolves inside ``folder`` or, in a
        Hugging Face cache (``models--org--name/snapshots/<commit>/``), inside that
        repository's ``blobs`` folder, where the Hub client keeps the bytes.
        """
        where = self.path or os.fspath(folder)
        missing, irregular, outside = [], [], []
        for shard in self.shard_files:
            try:
                mode = os.stat(Path(folder) / shard).st_mode
            except FileNotFoundError:
                missing.append(shard)
                continue
            if not stat.S_ISREG(mode):
                irregular.append(shard)
            elif not link_stays_inside(Path(folder) / shard, folder):
                outside.append(shard)
        if outside:
            raise CheckpointIndexError("shard files that link outside the checkpoint folder", where=where, received=outside,
                                       fix="Copy the files into the folder instead of linking them.")
        if missing:
            raise CheckpointIndexError(
                f"{len(missing)} shard file(s) listed in the index are missing",
                where=where,
                received=missing,
                fix="Download or copy the missing shards, or re-save the checkpoint.",
            )
        if irregular:
            raise CheckpointIndexError("shard entries that are not regular files", where=where, received=irregular)

    def check_contents(self, names_by_shard: Mapping[str, Iterable[str]]) -> None:
        """Every tensor is in exactly the shard the index names, and every stored tensor is indexed.

        Args:
            names_by_shard: for each shard file, the tensor names its header lists.
        """
        where = self.path or "index"
        seen: dict[str, str] = {}
        for shard, names in names_by_shard.items():
            for name in names:
                if name in seen:
                    raise CheckpointIndexError(
                        f"tensor {name!r} is stored in two shards", where=where, received=[seen[name], shard]
                    )
                seen[name] = shard
        unindexed = sorted(set(seen) - set(self.weight_map))
        if unindexed:
            raise CheckpointIndexError("tensors stored in shards but missing from the index", where=where, received=unindexed[:20])
        for name, shard in self.weight_map.items():
            if name not in seen:
                raise CheckpointIndexError(
                    f"tensor {name!r} is listed in the index but absent from its shard", where=where, received=shard
                )
            if seen[name] != shard:
                raise CheckpointIndexError(
                    f"tensor {name!r} is in a different shard than the index says",
                    where=where,
                    expected=shard,
                    received=seen[name],
                )


def read_index(path: str | os.PathLike[str]) -> CheckpointIndex:
    """Read and check an index file's structure and shard names (not the shards themselves)."""
    where = os.fspath(path)
    data = read_json_file(path, max_bytes=MAX_INDEX_BYTES, error=CheckpointIndexError)
    weight_map = data.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointIndexError(
            "the index has no weight_map object", where=where, expected='{"weight_map": {"<tensor>": "<shard file>"}}',
            received=type(weight_map).__name__ if weight_map is not None else "nothing",
        )
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CheckpointIndexError("metadata must be an object", where=where, received=type(metadata).__name__)
    for name, shard in weight_map.items():
        check_shard_name(shard, where=f"{where} (tensor {name!r})")
    return CheckpointIndex(dict(weight_map), dict(metadata), where)


def write_index(
    path: str | os.PathLike[str], weight_map: Mapping[str, str], metadata: Mapping[str, Any] | None = None
) -> None:
    """Write an index as transformers does (sorted keys, indent 2, trailing newline), atomically."""
    where = os.fspath(path)
    for name, shard in weight_map.items():
        check_shard_name(shard, where=f"{where} (tensor {name!r})")
    text = dump_json({"metadata": dict(metadata or {}), "weight_map": dict(weight_map)}, where=where, error=CheckpointIndexError)
    write_text_atomic(path, text)
