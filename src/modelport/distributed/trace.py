"""Which bytes of which files this process read: the proof that a sharded load stayed inside its slices."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ..formats.base import READ_OBSERVERS

__all__ = ["Read", "recording_reads"]


@dataclass(frozen=True)
class Read:
    """One positioned read of tensor data: ``nbytes`` bytes at ``offset`` of ``path``."""

    path: str
    offset: int
    nbytes: int


@contextlib.contextmanager
def recording_reads() -> Iterator[list[Read]]:
    """Record every read of tensor data this process makes inside the block (headers are not tensor data).

    The list grows while the block runs, from any thread; it is what a test compares with the slices a
    process owns.
    """
    reads: list[Read] = []
    lock = threading.Lock()

    def observe(handle: int, offset: int, nbytes: int) -> None:
        path = os.readlink(f"/proc/self/fd/{handle}") if os.path.exists("/proc/self/fd") else str(handle)
        with lock:
            reads.append(Read(path, offset, nbytes))

    READ_OBSERVERS.append(observe)
    try:
        yield reads
    finally:
        READ_OBSERVERS.remove(observe)
