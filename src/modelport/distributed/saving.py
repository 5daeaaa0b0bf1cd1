"""Saving sharded state as an ordinary Hub checkpoint, with no process gathering the model.

Every process knows every tensor's global name, dtype and shape, so each can
compute the same shard plan and safetensors headers, and so each tensor's offsets
in its file. The coordinator creates the files (header written, data space
reserved) under temporary names; after a barrier every process writes the blocks
it owns at their offsets (:func:`~modelport.formats.base.write_runs`) and fsyncs
them; after a second barrier the coordinator writes the index and commits through
the journal, as every modelport save does (:mod:`modelport.saving`). A process
killed before the commit leaves the previous checkpoint as it was; the next save
removes the temporary files.

The framework part is a :class:`Collective` (what the processes share) and, per
tensor, the blocks this process writes (one owner per block: replicas write nothing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dtypes import numpy_dtype
from ..errors import FormatError
from ..formats import safetensors
from ..formats.base import LazyTensor, info_of, write_runs
from ..fsutil import folder_lock, fsync_dir, fsync_file
from ..saving import (
    JOURNAL_NAME,
    SaveResult,
    _apply_journal,
    _commit,
    _io_errors,
    _plan_save,
    _read_journal,
    _remove,
    _remove_leftovers,
    _SavePlan,
    _temporary_names,
    _write_extra,
    _write_index,
)
from .slices import Box

__all__ = ["Collective", "GlobalTensor", "save_sharded", "LOCAL"]

logger = logging.getLogger(__name__)

#: test hook: called with ``"block:<tensor name>"`` after each block a process writes, and ``"commit"`` before the commit
_fault_hook: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Collective:
    """What the processes of a save share, from their framework.

    ``total(n)``: every process passes its own ``n`` and gets the sum over all processes (a barrier too);
    ``share(value)``: every process gets the coordinator's ``value``.
    """

    is_coordinator: bool
    total: Callable[[int], int]
    share: Callable[[str], str]


#: one process, nothing to share
LOCAL = Collective(True, lambda n: n, lambda value: value)


@dataclass(frozen=True)
class GlobalTensor:
    """One tensor of the checkpoint as a whole (canonical name, dtype and shape) and the blocks this process writes:
    ``blocks()`` yields ``(box, array)`` in the canonical layout, the array already of ``dtype``."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    blocks: Callable[[], Iterable[tuple[Box, np.ndarray]]]


def save_sharded(folder: str | os.PathLike[str], tensors: Sequence[GlobalTensor], collective: Collective, *,
                 max_shard_size: int | str = "5GB", metadata: dict[str, str] | None = None, variant: str | None = None,
                 durable: bool = True, extra_files: dict[str, str] | None = None) -> SaveResult:
    """Write ``tensors`` as a safetensors checkpoint (sharded by ``max_shard_size``) from every process at once.

    Every process calls it with the same tensors (names, dtypes, shapes, order) and its own blocks;
    ``extra_files`` (the coordinator's ``config.json``...) are committed with the weights.

    Raises:
        FormatError: on every process, when any process failed (the previous checkpoint is untouched).
    """
    folder = Path(folder)
    described = [(t.name, LazyTensor(t.dtype, t.shape, _no_data)) for t in tensors]
    plan = _plan_save(folder, described, "safetensors", variant, max_shard_size)
    layouts = {file: safetensors.layout([(n, *info_of(plan.tensors[n])) for n in names], metadata, where=str(folder / file))
               for file, names in zip(plan.files, plan.shards)}
    with contextlib.ExitStack() as held:
        token, failure = "", None
        if collective.is_coordinator:
            try:
                token = _prepare(folder, plan, layouts, held)
            except Exception as error:  # every process must hear of it before raising
                failure = error
        token = collective.share(token)
        _settle(collective, failure, folder, None)
        extra = dict(extra_files or {}) if collective.is_coordinator else {}
        temp = _temporary_names(folder, token, [*plan.files, plan.index_file, *extra])
        written = 0
        try:
            written = _write_blocks(folder, plan, layouts, temp, tensors, durable)
        except Exception as error:
            failure = error
        _settle(collective, failure, folder, temp)
        covered = collective.total(written)
        if covered != plan.total:  # a block written twice, or none for some: never a silently partial file
            failure = FormatError("the processes' blocks do not cover the checkpoint exactly once", where=os.fspath(folder),
                                  expected=f"{plan.total} bytes", received=f"{covered} bytes written",
                                  fix="Each block must have one owner (replicas write nothing); see the adapter's layout.")
            _settle(collective, failure, folder, temp)
        deletes: list[str] = []
        if collective.is_coordinator:
            try:
                deletes = _finish(folder, plan, token, temp, durable, extra)
            except Exception as error:
                failure = error
        _settle(collective, failure, folder, None)
    logger.info("Saved %d tensors (%d bytes) in %d file(s) to %s from every process", len(plan.tensors), plan.total,
                len(plan.files), folder)
    return SaveResult(folder, plan.files, plan.index_file if plan.sharded else None, plan.total, deletes)


def _no_data() -> np.ndarray:
    raise AssertionError("a sharded save writes blocks, never whole tensors")


def _settle(collective: Collective, failure: Exception | None, folder: Path, temp: dict[str, str] | None) -> None:
    """A barrier that fails everywhere when it failed anywhere (the coordinator then removes the new files)."""
    if collective.total(0 if failure is None else 1) == 0:
        return
    if collective.is_coordinator and temp is not None:
        _remove(folder, temp.values())
    if failure is not None:
        raise failure
    raise FormatError("another process failed during the sharded save", where=os.fspath(folder),
                      fix="See that process's error; the previous checkpoint is untouched.")


def _prepare(folder: Path, plan: _SavePlan, layouts: dict[str, tuple[bytes, dict]], held: contextlib.ExitStack) -> str:
    """The coordinator's part before any data: the folder locked until the commit, an interrupted save finished or
    cleared, and each file created under its temporary name with its header and room for its data."""
    with _io_errors(folder, "could not create the folder"):
        folder.mkdir(parents=True, exist_ok=True)
    held.enter_context(folder_lock(folder))
    if (folder / JOURNAL_NAME).exists():
        _apply_journal(folder, _read_journal(folder))
    _remove_leftovers(folder)
    token = secrets.token_hex(4)
    temp = _temporary_names(folder, token, [*plan.files, plan.index_file])
    for file in plan.files:
        prefix, offsets = layouts[file]
        with _io_errors(folder / file, "could not write the file"), open(folder / temp[file], "wb") as fh:
            fh.write(prefix)
            fh.truncate(len(prefix) + max((stop for _, stop in offsets.values()), default=0))
    return token


def _write_blocks(folder: Path, plan: _SavePlan, layouts: dict[str, tuple[bytes, dict]], temp: dict[str, str],
                  tensors: Sequence[GlobalTensor], durable: bool) -> int:
    """This process's blocks, each at its offsets in its tensor's file; the files it wrote to, fsynced. Returns the
    bytes written."""
    written = 0
    file_of = plan.weight_map
    handles: dict[str, int] = {}
    try:
        for tensor in tensors:
            file = file_of[tensor.name]
            prefix, offsets = layouts[file]
            for box, block in tensor.blocks():
                if file not in handles:
                    handles[file] = os.open(folder / temp[file], os.O_WRONLY)
                if block.dtype != numpy_dtype(tensor.dtype) or block.shape != tuple(b - a for a, b in box):
                    raise FormatError("a block does not match its place in the tensor", where=tensor.name,
                                      expected=f"{tensor.dtype} {[b - a for a, b in box]}",
                                      received=f"{block.dtype} {list(block.shape)}")
                with _io_errors(folder / file, "could not write the file"):
                    write_runs(handles[file], len(prefix) + offsets[tensor.name][0], tensor.shape, box, block)
                written += block.nbytes
                if _fault_hook is not None:
                    _fault_hook(f"block:{tensor.name}")
        if durable:
            for handle in handles.values():
                os.fsync(handle)
    finally:
        for handle in handles.values():
            os.close(handle)
    return written


def _finish(folder: Path, plan: _SavePlan, token: str, temp: dict[str, str], durable: bool, extra: dict[str, str]) -> list[str]:
    """The coordinator's commit, once every process has written: the index and extra files, then the journal."""
    if durable:
        for file in plan.files:
            fsync_file(folder / temp[file])
    renames = (_write_extra(folder, extra, temp, durable) + [[temp[n], n] for n in plan.files]
               + _write_index(folder, plan, temp, "pt", "tf_model"))
    if durable:
        fsync_dir(folder)
    if _fault_hook is not None:
        _fault_hook("commit")
    return _commit(folder, plan, token, renames, temp)
