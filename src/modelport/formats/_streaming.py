"""Tensors handed to a writer in write order, loaded ahead on a worker thread: the converter's pipeline.

Private to the writers. :func:`prefetched` is what every core writer iterates:
it yields each item's array (or, for bytes that can be copied file to file,
its :class:`~modelport.formats.base.FileBytes`) in order, loading up to
:data:`PREFETCH_AHEAD` lazy tensors ahead while the writer writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .base import FileBytes, LazyTensor, TensorLike, materialise

__all__ = ["prefetched", "PREFETCH_AHEAD"]

#: how many items :func:`prefetched` loads ahead of the one the caller is writing: two, so a
#: large kernel loads while the one before it and the small bias between them are written
PREFETCH_AHEAD = 2


def prefetched(items: Iterable[tuple[str, TensorLike]], *, where: str) -> Generator[tuple[str, np.ndarray | FileBytes], None, None]:
    """``(name, array)`` for each item in order, as :func:`materialise` makes them, or ``(name, FileBytes)``
    for a lazy tensor whose bytes are in a file already (:func:`write_array` copies those).

    Lazy tensors marked ``prefetch`` are loaded on one worker thread, up to
    :data:`PREFETCH_AHEAD` loads ahead of the item the caller is writing, so
    reading and re-laying-out tensors overlaps writing them (numpy copies,
    reads and writes release the GIL). Loads run one at a time, in order; when
    the caller asks for item ``i`` (and so is done with every item before it),
    at most ``PREFETCH_AHEAD + 1`` loads of items from ``i`` on have started.
    Items with :class:`FileBytes` need no load and do not count; an item
    without either mark stops the lookahead and is loaded on the caller's
    thread. Close the generator (or exhaust it) before reusing what the loads
    read from.
    """
    items = list(items)

    def make(i: int) -> np.ndarray | FileBytes:
        name, tensor = items[i]
        if isinstance(tensor, LazyTensor) and tensor.file_bytes is not None:
            return tensor.file_bytes
        return materialise(tensor, where=f"{where} (tensor {name!r})")

    def ahead(i: int) -> bool:
        tensor = items[i][1]
        return isinstance(tensor, LazyTensor) and tensor.prefetch and tensor.file_bytes is None

    def ready(i: int) -> bool:
        tensor = items[i][1]
        return isinstance(tensor, LazyTensor) and tensor.file_bytes is not None

    if not any(ahead(i) for i in range(len(items))):
        for i, (name, _) in enumerate(items):
            yield name, make(i)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelport-prefetch") as pool:
        loading: dict[int, Future[np.ndarray | FileBytes]] = {}
        started = 0  # items below this were submitted or loaded here
        try:
            for i, (name, _) in enumerate(items):
                # `loading` holds the loads of items from i on: the caller is done with the rest
                while started < len(items) and len(loading) <= PREFETCH_AHEAD and (ahead(started) or ready(started)):
                    if ahead(started):
                        loading[started] = pool.submit(make, started)
                    started += 1
                if i in loading:
                    array = loading.pop(i).result()
                else:
                    array = make(i)
                    started = max(started, i + 1)
                yield name, array
        finally:
            for future in loading.values():  # the caller stopped early: let the running load finish first
                if not future.cancel():
                    with contextlib.suppress(BaseException):
                        future.result()
