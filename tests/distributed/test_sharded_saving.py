"""Sharded saves: processes (threads here, with a real barrier) each write their blocks into one Hub checkpoint."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from modelport.distributed import saving
from modelport.distributed.saving import LOCAL, Collective, GlobalTensor, save_sharded
from modelport.errors import FormatError

from _support.reference_readers import read_safetensors

PROCESSES = 4


class _Threads:
    """A Collective per thread: sums and the coordinator's value, through a barrier."""

    def __init__(self, n: int) -> None:
        self.barrier = threading.Barrier(n)
        self.values: dict[int, object] = {}

    def for_rank(self, rank: int) -> Collective:
        def total(n: int) -> int:
            self.values[rank] = n
            self.barrier.wait()
            out = sum(self.values[r] for r in range(self.barrier.parties))
            self.barrier.wait()
            return out

        def share(value: str) -> str:
            if rank == 0:
                self.values["shared"] = value
            self.barrier.wait()
            out = self.values["shared"]
            self.barrier.wait()
            return out

        return Collective(rank == 0, total, share)


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"embed.weight": rng.standard_normal((16, 6)).astype(np.float32),
            "layer.0.q.weight": rng.standard_normal((8, 6)).astype(np.float32),
            "layer.0.q.bias": rng.standard_normal((8,)).astype(np.float32),
            "layer.0.cube": rng.standard_normal((4, 3, 5)).astype(np.float32),
            "norm.weight": rng.standard_normal((6,)).astype(np.float32),
            "counts": np.arange(12, dtype=np.int64)}


def _split(array: np.ndarray, rank: int, axis: int) -> list[tuple[tuple[tuple[int, int], ...], np.ndarray]]:
    """Rank ``rank``'s quarter along ``axis`` (the last rank takes the rest); 1-D tensors: rank 0 writes all."""
    if array.ndim == 1 and axis:
        return [(((0, array.shape[0]),), array)] if rank == 0 else []
    size = array.shape[axis]
    step = -(-size // PROCESSES)
    start, stop = min(rank * step, size), min((rank + 1) * step, size)
    if start == stop:
        return []
    box = tuple((start, stop) if a == axis else (0, d) for a, d in enumerate(array.shape))
    return [(box, np.ascontiguousarray(array[tuple(slice(a, b) for a, b in box)]))]


def _tensors(weights: dict[str, np.ndarray], rank: int, skip: str = "") -> list[GlobalTensor]:
    out = []
    for n, (name, array) in enumerate(weights.items()):
        axis = n % 2 if array.ndim > 1 else 1  # rows for some, columns for others: strided blocks
        blocks = [] if name == skip else _split(array, rank, axis)
        out.append(GlobalTensor(name, str(array.dtype), array.shape, lambda blocks=blocks: iter(blocks)))
    return out


def _save_from_threads(folder: Path, weights, skip: str = "", fail_rank: int | None = None, **options):
    collective = _Threads(PROCESSES)

    def run(rank: int):
        tensors = _tensors(weights, rank, skip)
        if rank == fail_rank:
            def broken():
                raise OSError(28, "No space left on device")
            tensors[1] = GlobalTensor(tensors[1].name, tensors[1].dtype, tensors[1].shape, broken)
        return save_sharded(folder, tensors, collective.for_rank(rank), durable=False, **options)

    with ThreadPoolExecutor(PROCESSES) as pool:
        futures = [pool.submit(run, rank) for rank in range(PROCESSES)]
        return [f.exception() or f.result() for f in futures]


def _whole(weights: dict[str, np.ndarray]) -> list[GlobalTensor]:
    """Every tensor as one block (one process)."""
    return [GlobalTensor(n, str(a.dtype), a.shape, lambda a=a: iter([(tuple((0, d) for d in a.shape), a)])) for n, a in weights.items()]


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for file in sorted(folder.glob("*.safetensors")):
        out.update(read_safetensors(file))
    return out


def test_four_writers_make_one_checkpoint_equal_to_the_whole_tensors(tmp_path):
    weights = _weights()
    results = _save_from_threads(tmp_path, weights, max_shard_size=200, metadata={"format": "pt"})
    assert all(not isinstance(r, BaseException) for r in results), results
    assert len(results[0].files) > 2 and results[0].index_file == "model.safetensors.index.json"
    stored = _read_folder(tmp_path)
    assert set(stored) == set(weights)
    for name, array in weights.items():
        np.testing.assert_array_equal(stored[name], array)  # exact: bytes placed, never computed
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == sum(a.nbytes for a in weights.values())
    assert set(index["weight_map"]) == set(weights) and set(index["weight_map"].values()) == set(results[0].files)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".modelport")]


def test_one_process_writes_the_same_bytes_as_the_ordinary_writer(tmp_path):
    from modelport.formats import safetensors

    weights = _weights()
    save_sharded(tmp_path / "blocks", _whole(weights), LOCAL, metadata={"format": "pt"}, durable=False)
    safetensors.write(tmp_path / "plain.safetensors", list(weights.items()), metadata={"format": "pt"})
    assert (tmp_path / "blocks" / "model.safetensors").read_bytes() == (tmp_path / "plain.safetensors").read_bytes()


def _previous(folder: Path) -> bytes:
    save_sharded(folder, _whole({name: np.zeros_like(array) for name, array in _weights().items()}), LOCAL, durable=False)
    return (folder / "model.safetensors").read_bytes()


def test_a_block_nobody_wrote_fails_every_process_and_keeps_the_previous_checkpoint(tmp_path):
    before = _previous(tmp_path)
    results = _save_from_threads(tmp_path, _weights(), skip="layer.0.cube")
    assert all(isinstance(r, FormatError) and "exactly once" in str(r) for r in results)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_a_failing_process_fails_them_all_and_keeps_the_previous_checkpoint(tmp_path):
    before = _previous(tmp_path)
    results = _save_from_threads(tmp_path, _weights(), fail_rank=2, max_shard_size=200)
    assert isinstance(results[2], OSError)
    assert all(isinstance(r, FormatError) and "another process failed" in str(r) for i, r in enumerate(results) if i != 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_a_crash_before_the_commit_leaves_the_previous_checkpoint_and_the_next_save_cleans_up(tmp_path, monkeypatch):
    before = _previous(tmp_path)

    def crash(step: str) -> None:
        if step == "commit":
            raise KeyboardInterrupt  # stands for the process dying: nothing after this point runs

    monkeypatch.setattr(saving, "_fault_hook", crash)
    with pytest.raises(KeyboardInterrupt):
        save_sharded(tmp_path, _whole(_weights()), LOCAL, durable=False)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert any(p.name.startswith(".modelport-tmp-") for p in tmp_path.iterdir())
    monkeypatch.setattr(saving, "_fault_hook", None)
    results = _save_from_threads(tmp_path, _weights())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".modelport")]
    np.testing.assert_array_equal(_read_folder(tmp_path)["embed.weight"], _weights()["embed.weight"])
    assert results[0].files == ["model.safetensors"]
