"""Writing checkpoints: sharded, indexed, and never leaving a mix behind.

A sharded checkpoint is several files, and no filesystem replaces several
files at once. The save therefore works in two phases around a small
journal, in transformers' flat layout (shards and index side by side, so
every tool still reads the folder):

1. every new file is written under a temporary name in the destination
   folder (``.modelport-tmp-<token>-<name>``) and fsynced; the previous
   checkpoint is untouched, so a crash here leaves it loadable as it was;
2. the journal ``.modelport-save.json``, listing the renames and the stale
   files to delete, is written atomically: this is the commit point;
3. the renames and deletions are applied and the journal removed.

A crash during step 3 leaves the journal behind; the next open or save of
the folder finishes the job (renames and deletions are idempotent), so the
folder reads as the new checkpoint, never as a mix. Temporary files of a
save that died before its commit point are removed by the next save.
Files that are not this checkpoint's own (config, tokenizer, README, other
formats' weights) are never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import frameworks
from .dtypes import DTYPES
from .errors import FormatError
from .filenames import index_name, variant_name
from .formats import registry as formats
from .formats.base import LazyTensor, TensorLike, info_of
from .fsutil import folder_lock, fsync_dir, fsync_file, write_text_atomic
from .index import write_index
from .jsonio import read_json_file
from .sharding import is_shard_of, plan_shards, shard_file_name

__all__ = ["SaveResult", "save_checkpoint", "recover_interrupted_save", "JOURNAL_NAME", "TEMP_PREFIX"]

logger = logging.getLogger(__name__)

JOURNAL_NAME = ".modelport-save.json"
TEMP_PREFIX = ".modelport-tmp-"
_MAX_NAME_BYTES = 255  # NAME_MAX of ext4, XFS, btrfs, APFS and NTFS

#: test hook: called with a step name during the commit ("journal", "rename:<name>", "delete:<name>")
_fault_hook: Callable[[str], None] | None = None


@dataclass(frozen=True)
class SaveResult:
    """What a save wrote."""

    folder: Path
    files: list[str]
    index_file: str | None
    total_size: int
    removed: list[str]


def _step(name: str) -> None:
    if _fault_hook is not None:
        _fault_hook(name)


def _apply_journal(folder: Path, journal: dict) -> None:
    for tmp, final in journal["renames"]:
        if (folder / tmp).exists():
            _step(f"rename:{final}")
            os.replace(folder / tmp, folder / final)
    fsync_dir(folder)
    for stale in journal["deletes"]:
        if (folder / stale).exists():
            _step(f"delete:{stale}")
            (folder / stale).unlink()
    (folder / JOURNAL_NAME).unlink()
    fsync_dir(folder)


def _read_journal(folder: Path) -> dict:
    where = folder / JOURNAL_NAME
    journal = read_json_file(where)
    ok = (
        isinstance(journal.get("renames"), list)
        and isinstance(journal.get("deletes"), list)
        and all(isinstance(p, list) and len(p) == 2 and all(_plain(x) for x in p) for p in journal["renames"])
        and all(_plain(x) for x in journal["deletes"])
    )
    if not ok:
        raise FormatError(
            "the save journal is damaged", where=os.fspath(where), fix="Delete it and the .modelport-tmp-* files, then save again."
        )
    return journal


def _plain(name: object) -> bool:
    return isinstance(name, str) and bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def recover_interrupted_save(folder: str | os.PathLike[str]) -> bool:
    """Finish a save that was interrupted after its commit point; True if there was one."""
    folder = Path(folder)
    if not (folder / JOURNAL_NAME).exists():
        return False
    if not os.access(folder, os.W_OK):
        raise FormatError(
            "an interrupted save must be finished, but the folder is read-only",
            where=os.fspath(folder),
            fix="Open it once with write access (modelport finishes the save), or restore it from a copy.",
        )
    with folder_lock(folder):
        if (folder / JOURNAL_NAME).exists():  # another process may have finished it meanwhile
            logger.warning("%s: finishing a save that was interrupted after it committed.", folder)
            _apply_journal(folder, _read_journal(folder))
            return True
    return False


def _default_storage_id(tensor: TensorLike) -> Hashable | None:
    return None if isinstance(tensor, LazyTensor) else id(tensor.base if tensor.base is not None else tensor)


def _nbytes(tensor: TensorLike) -> int:
    dtype, shape = info_of(tensor)
    return DTYPES[dtype].itemsize * math.prod(shape)


def save_checkpoint(
    folder: str | os.PathLike[str],
    tensors: Sequence[tuple[str, TensorLike]],
    *,
    format: str = "safetensors",
    framework: str = "pt",
    max_shard_size: int | str = "5GB",
    metadata: dict[str, str] | None = None,
    variant: str | None = None,
    tf_scope: str = "tf_model",
    writer: Writer | None = None,
    durable: bool = True,
    extra_files: Mapping[str, str] | None = None,
) -> SaveResult:
    """Write tensors as a checkpoint in transformers' layout, sharded by ``max_shard_size``.

    Three phases: plan the shards and file names (:func:`_plan_save`), write every file under a temporary
    name (:func:`_write_files`), then commit through the journal (:func:`_commit`).

    Args:
        folder: the destination; created if needed.
        tensors: ``(name, array or LazyTensor)`` in write order; lazy tensors are
            loaded one at a time, so memory stays near one tensor.
        format: a format of :mod:`modelport.formats.registry`; one the core does not write
            (``"bin"``) is written by the adapter that does (``Adapter.file_writer``).
        framework: whose names the tensors carry (a :mod:`modelport.frameworks` tag),
            recorded in safetensors metadata.
        tf_scope: the model scope of TF files (``tf_bert_model``): unsharded
            ``tf_model.h5`` and TF indexes use it in full variable names.
        writer: writes one file from ``(path, [(name, tensor), ...])`` instead of the format's own writer.
        extra_files: small text files (``config.json``) committed with the weights: written under temporary
            names and renamed by the same journal, so a save killed before its commit changes none of them.
        durable: fsync every file and the folder before the commit (the default).
            ``False`` keeps the commit protocol (never a mix) but leaves flushing
            to the OS: a power cut may then lose the new save, not the old one's
            consistency. For scratch folders and benchmarks.

    Returns:
        A :class:`SaveResult` naming the files written and removed.
    """
    folder = Path(folder)
    write = _as_file_writer(writer) if writer is not None else _file_writer(format, framework, metadata, tf_scope, folder)
    plan = _plan_save(folder, tensors, format, variant, max_shard_size)
    with _io_errors(folder, "could not create the folder"):
        folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder):
        if (folder / JOURNAL_NAME).exists():
            _apply_journal(folder, _read_journal(folder))
        _remove_leftovers(folder)
        token = secrets.token_hex(4)
        extra = dict(extra_files or {})
        temp = _temporary_names(folder, token, [*plan.files, plan.index_file, *extra])
        try:
            # the index follows the framework the files are read as (an h5 file is always read as TF)
            read_as = formats.get(format).framework or framework
            renames = _write_extra(folder, extra, temp, durable) + _write_files(folder, plan, temp, write, read_as, tf_scope, durable)
        except BaseException:
            _remove(folder, temp.values())
            raise
        deletes = _commit(folder, plan, token, renames, temp)
    logger.info("Saved %d tensors (%d bytes) in %d file(s) to %s", len(plan.tensors), plan.total, len(plan.files), folder)
    return SaveResult(folder, plan.files, plan.index_file if plan.sharded else None, plan.total, deletes)


Writer = Callable[[Path, list[tuple[str, TensorLike]]], None]
_FileWriter = Callable[[Path, list[tuple[str, TensorLike]], bool], None]  # (path, items, sharded)


def _as_file_writer(writer: Writer) -> _FileWriter:
    return lambda path, items, sharded: writer(path, items)


@dataclass(frozen=True)
class _SavePlan:
    base: str  # the weights file name (``model.safetensors``, with its variant)
    index_file: str
    files: list[str]  # the files to write, in order
    shards: list[list[str]]  # each file's tensor names
    tensors: dict[str, TensorLike]
    total: int  # tensor bytes
    weight_map: dict[str, str]

    @property
    def sharded(self) -> bool:
        return len(self.files) > 1


def _file_writer(format: str, framework: str, metadata: dict[str, str] | None, tf_scope: str, folder: Path) -> _FileWriter:
    """One file of ``format``: the core's writer, or the one of the adapter whose native format it is."""
    spec = formats.get(format, where=os.fspath(folder))
    if spec.write is not None:
        write = spec.write
        return lambda path, items, sharded: write(path, items, framework=framework, metadata=metadata, scope=tf_scope, sharded=sharded)
    owner = next((tag for tag in frameworks.tags() if frameworks.get(tag).native_format == format), None)
    adapter = None
    if owner is not None:
        from . import adapters
        from .errors import AdapterNotFoundError

        with contextlib.suppress(AdapterNotFoundError):
            adapter = adapters.get(frameworks.adapter_for(owner))
    found = adapter.file_writer(format) if adapter is not None else None
    if found is None:
        raise FormatError(
            "this format cannot be written by the core",
            where=os.fspath(folder),
            expected=" or ".join(name for name, f in formats.FORMATS.items() if f.write is not None),
            received=format,
            fix=f"Install the adapter that writes it (pip install modelport-{frameworks.adapter_for(owner)})"
            if owner
            else "Choose another format.",
        )
    return _as_file_writer(found)


def _plan_save(
    folder: Path, tensors: Sequence[tuple[str, TensorLike]], format: str, variant: str | None, max_shard_size: int | str
) -> _SavePlan:
    weights_name = formats.get(format, where=os.fspath(folder)).weights_name
    base = variant_name(weights_name, variant)
    shards = plan_shards(tensors, max_shard_size, storage_size=_nbytes, storage_id=_default_storage_id)
    if not shards.shards:
        raise FormatError("there are no tensors to save", where=os.fspath(folder))
    files = [shard_file_name(base, i, len(shards.shards)) for i in range(len(shards.shards))]
    by_name = dict(tensors)
    return _SavePlan(
        base,
        index_name(weights_name, variant),
        files,
        shards.shards,
        by_name,
        sum(_nbytes(t) for t in by_name.values()),
        shards.weight_map(files),
    )


def _remove_leftovers(folder: Path) -> None:
    """Files of saves that died before committing: their temporary files, and the ``.<name>.tmp-...``
    files of an index or journal that died being written."""
    patterns = (f"{TEMP_PREFIX}*", f".{TEMP_PREFIX}*", f".{JOURNAL_NAME}.tmp-*")
    for leftover in [path for pattern in patterns for path in folder.glob(pattern)]:
        leftover.unlink()


def _temporary_names(folder: Path, token: str, names: list[str]) -> dict[str, str]:
    temp = {name: f"{TEMP_PREFIX}{token}-{name}" for name in names}
    too_long = [name for name in temp.values() if len(name.encode("utf-8")) > _MAX_NAME_BYTES]
    if too_long:
        raise FormatError(
            "a file name would be too long for the filesystem",
            where=os.fspath(folder / names[0]),
            expected=f"at most {_MAX_NAME_BYTES} bytes including the {len(TEMP_PREFIX) + 9}-byte temporary prefix",
            received=f"{len(too_long[0].encode('utf-8'))} bytes",
            fix="Use a shorter variant name.",
        )
    return temp


def _write_files(
    folder: Path, plan: _SavePlan, temp: dict[str, str], write: _FileWriter, framework: str, tf_scope: str, durable: bool
) -> list[list[str]]:
    """Every file under its temporary name, fsynced; returns the renames that will commit them."""
    # a written shard is fsynced on a second thread while the next one is written (the disk works
    # while the CPU does); every fsync has finished before the index, the folder's fsync and the commit
    syncing: list[tuple[str, Future[None]]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelport-fsync") as syncer:  # exits when all ran
        for shard_name, shard_tensors in zip(plan.files, plan.shards):
            with _io_errors(folder / shard_name, "could not write the file"):
                write(folder / temp[shard_name], [(n, plan.tensors[n]) for n in shard_tensors], plan.sharded)
            if durable:
                syncing.append((shard_name, syncer.submit(fsync_file, folder / temp[shard_name])))
    for shard_name, future in syncing:
        with _io_errors(folder / shard_name, "could not write the file"):
            future.result()
    renames = [[temp[n], n] for n in plan.files] + _write_index(folder, plan, temp, framework, tf_scope)
    if durable:
        fsync_dir(folder)
    return renames


def _write_extra(folder: Path, extra: Mapping[str, str], temp: dict[str, str], durable: bool) -> list[list[str]]:
    """The save's small text files under their temporary names; returns their renames."""
    for name, text in extra.items():
        with _io_errors(folder / name, "could not write the file"):
            (folder / temp[name]).write_text(text, encoding="utf-8")
            if durable:
                fsync_file(folder / temp[name])
    return [[temp[name], name] for name in extra]


def _write_index(folder: Path, plan: _SavePlan, temp: dict[str, str], framework: str, tf_scope: str) -> list[list[str]]:
    """A sharded save's index under its temporary name; returns its rename (none for one file)."""
    if not plan.sharded:
        return []
    facts = frameworks.get(framework)
    keys = {f"{tf_scope}/{k}": v for k, v in plan.weight_map.items()} if facts.scoped_index_keys else plan.weight_map
    index_meta: dict[str, object] = {"total_size": plan.total}
    if facts.index_counts_parameters:
        index_meta["total_parameters"] = sum(math.prod(info_of(t)[1]) for t in plan.tensors.values())
    with _io_errors(folder / plan.index_file, "could not write the file"):
        write_index(folder / temp[plan.index_file], keys, index_meta)
    return [[temp[plan.index_file], plan.index_file]]


def _commit(folder: Path, plan: _SavePlan, token: str, renames: list[list[str]], temp: dict[str, str]) -> list[str]:
    """Write the journal (the commit point), then apply it; returns the stale files deleted."""
    kept = set(plan.files) | ({plan.index_file} if plan.sharded else set())
    deletes = sorted(
        p.name
        for p in folder.iterdir()
        if p.name not in kept and (is_shard_of(p.name, plan.base) or p.name in (plan.base, plan.index_file))
    )
    journal = {"token": token, "renames": renames, "deletes": deletes}
    _step("journal")
    try:
        with _io_errors(folder / JOURNAL_NAME, "could not write the file"):
            write_text_atomic(folder / JOURNAL_NAME, json.dumps(journal, indent=1) + "\n")
    except BaseException:
        if not (folder / JOURNAL_NAME).exists():  # not committed: the new files go, the old checkpoint stays
            _remove(folder, temp.values())
        raise
    _apply_journal(folder, journal)
    return deletes


def _remove(folder: Path, names: Iterable[str]) -> None:
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()


@contextlib.contextmanager
def _io_errors(where: Path, problem: str) -> Iterator[None]:
    """Turn the operating system's refusals (disk full, file too large, permissions, name too long) into FormatError."""
    try:
        yield
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise FormatError(
            f"{problem} ({reason})",
            where=os.fspath(where),
            fix="Free disk space, check the folder's permissions and the file name, then save again; the previous checkpoint is untouched.",
        ) from exc
