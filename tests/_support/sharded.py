"""Index checkpoints for sharded-load tests: copies of golden checkpoints whose every value is its own element id.

A process's read trace (``modelport.distributed.recording_reads``) then says by itself which elements were read:
the bytes at each recorded offset decode to their ids, which are compared with the ids the process's shards hold.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

__all__ = ["Ids", "index_checkpoint", "ids_read"]


class Ids:
    """Consecutive element ids, as float32 (exact up to 2**24)."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, shape) -> np.ndarray:
        size = int(np.prod(shape))
        assert self.next + size < 2**24, "float32 holds whole numbers exactly only up to 2**24"
        out = np.arange(self.next, self.next + size, dtype=np.float32).reshape(shape)
        self.next += size
        return out


def _index_safetensors(path: Path, ids: Ids) -> None:
    """Overwrite every tensor's bytes in place (the header's offsets, read with the format's own rules)."""
    raw = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    header.pop("__metadata__", None)
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        assert entry["dtype"] == "F32", name
        start, stop = entry["data_offsets"]
        raw[8 + length + start : 8 + length + stop] = ids.take(entry["shape"]).tobytes()
    path.write_bytes(bytes(raw))


def _index_h5(path: Path, ids: Ids) -> None:
    with h5py.File(path, "r+") as f:
        datasets: list[h5py.Dataset] = []
        f.visititems(lambda name, item: datasets.append(item) if isinstance(item, h5py.Dataset) else None)
        for dataset in datasets:
            assert dataset.dtype == np.float32 and dataset.chunks is None, dataset.name
            dataset[...] = ids.take(dataset.shape)


WRITERS: dict[str, Callable[[Path, Ids], None]] = {".safetensors": _index_safetensors, ".h5": _index_h5}


def index_checkpoint(source: Path, target: Path, writers: dict[str, Callable[[Path, Ids], None]] | None = None) -> Path:
    """A copy of the checkpoint folder ``source`` at ``target`` with every value replaced by its element id."""
    shutil.copytree(source, target)
    ids = Ids()
    known = {**WRITERS, **(writers or {})}
    for file in sorted(target.iterdir()):
        if file.suffix in known:
            known[file.suffix](file, ids)
    return target


def ids_read(reads) -> list[int]:
    """The element ids in the bytes each recorded read covered, in read order (repeats kept)."""
    seen: list[int] = []
    for read in reads:
        assert read.nbytes % 4 == 0, read
        with open(read.path, "rb") as fh:
            fh.seek(read.offset)
            seen.extend(int(v) for v in np.frombuffer(fh.read(read.nbytes), dtype="<f4"))
    return seen
