"""Parsing untrusted h5 files in a child process.

libhdf5 is a large C library: crafted files have crashed it (SIGSEGV) and made
it allocate gigabytes from a few kilobytes. So the structure of an h5 file this
process did not write is parsed by ``python -m modelport.formats._h5_child``
under an address-space limit and a CPU-time limit, and comes back as JSON:
names, dtypes, shapes and the byte offset of every dataset. The parent then
reads tensor data with positioned reads, without libhdf5. A crash, a limit or
a hang becomes a :class:`~modelport.errors.FormatError` naming the file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from ..errors import FormatError
from .base import TensorInfo

if TYPE_CHECKING:
    from .keras_h5 import H5Layout

__all__ = ["analyse_in_child", "analyse_many_in_child", "read_in_child", "MEMORY_LIMIT_MB", "TIME_LIMIT_S"]

MEMORY_LIMIT_MB = 1024  # address space of the child (numpy + h5py need about 110 MB)
TIME_LIMIT_S = 60


def _apply_limits(limit: int) -> None:
    """Runs first thing in the child, before the file is touched (no preexec_fn: forking a
    multithreaded parent, as JAX or TensorFlow make it, can deadlock)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (TIME_LIMIT_S, TIME_LIMIT_S + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run(args: list[str], where: str, extra_bytes: int = 0) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "modelport.formats._h5_child", str((MEMORY_LIMIT_MB << 20) + extra_bytes), *args],
            capture_output=True, env=env, timeout=TIME_LIMIT_S, input=b"",  # not DEVNULL: no file is opened for it
        )
    except subprocess.TimeoutExpired:
        raise FormatError(f"parsing the HDF5 file took longer than {TIME_LIMIT_S} s", where=where,
                          fix="The file is damaged or crafted; do not load it.") from None
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        raise FormatError(f"the HDF5 library crashed on this file ({name})", where=where,
                          fix="The file is damaged or crafted; do not load it.")
    if done.returncode != 0:
        reason = "ran out of its memory limit" if b"MemoryError" in done.stderr else f"exited with status {done.returncode}"
        raise FormatError(f"the HDF5 parser {reason} on this file", where=where,
                          received=done.stderr.decode("utf-8", "replace")[-300:] or None,
                          fix="The file is damaged or crafted; do not load it.")
    return done


def read_in_child(path: str, dataset_path: str, nbytes: int, where: str) -> bytes:
    """The raw bytes of a chunked or compressed dataset, decoded by libhdf5 in a child (little-endian, C order)."""
    done = _run(["read", path, dataset_path], where, extra_bytes=2 * nbytes)
    if len(done.stdout) != nbytes:
        raise FormatError("the HDF5 parser returned the wrong amount of data", where=where,
                          expected=f"{nbytes} bytes", received=f"{len(done.stdout)} bytes")
    return done.stdout


def analyse_in_child(path: str) -> H5Layout:
    """The layout of an h5 file, parsed by libhdf5 in a limited child."""
    result = analyse_many_in_child([path])[0]
    if isinstance(result, FormatError):
        raise result
    return result


def analyse_many_in_child(paths: list[str]) -> list[H5Layout | FormatError]:
    """Several files' layouts from one child (the shards of a checkpoint: one process start, not one each).

    A file the child refuses comes back as its FormatError; a child that crashes or
    hits a limit raises, naming the first file (callers may retry one file at a time).
    """
    from .keras_h5 import H5Layout  # keras_h5 imports this module: a cycle at import time otherwise

    done = _run(["layout", *paths], paths[0])
    try:
        answers = json.loads(done.stdout)
    except ValueError:
        answers = None
    if not isinstance(answers, list) or len(answers) != len(paths):
        raise FormatError("the HDF5 parser gave no answer for this file", where=paths[0],
                          fix="The file is damaged or crafted; do not load it.")
    results: list[H5Layout | FormatError] = []
    for path, answer in zip(paths, answers):
        if "error" in answer:
            error = answer["error"]
            results.append(FormatError(error["problem"], where=error["where"], expected=error["expected"],
                                       received=error["received"], fix=error["fix"]))
            continue
        infos = {name: TensorInfo(name, dtype, tuple(shape), path, nbytes) for name, dtype, shape, nbytes in answer["infos"]}
        placements = {name: (tuple(p) if p is not None else None) for name, p in answer["placements"]}
        results.append(H5Layout(path, dict(answer["datasets"]), answer["scope"], answer["sharded"], infos, placements,
                                isolated=True))
    return results


def _main(limit: str, command: str, *args: str) -> int:
    if os.name == "posix":
        _apply_limits(int(limit))
    from ..errors import ModelportError
    from .keras_h5 import read_dataset_here, read_layout

    if command == "read":
        path, dataset_path = args
        array = read_dataset_here(path, dataset_path)
        sys.stdout.buffer.write(array.reshape(-1).view("u1").data if array.size else b"")
        return 0

    answers: list[dict[str, Any]] = []
    for path in args:
        try:
            layout = read_layout(path, isolate=False)
        except ModelportError as exc:
            answers.append({"error": {"problem": exc.problem, "where": exc.where, "expected": _text(exc.expected),
                                      "received": _text(exc.received), "fix": exc.fix}})
            continue
        answers.append({
            "datasets": list(layout.datasets.items()), "scope": layout.scope, "sharded": layout.sharded,
            "infos": [[i.name, i.dtype, list(i.shape), i.nbytes] for i in layout.infos.values()],
            "placements": [[name, list(p) if p is not None else None] for name, p in layout.placements.items()],
        })
    print(json.dumps(answers))
    return 0


def _text(value: object) -> str | None:
    return None if value is None else str(value)


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:]))
