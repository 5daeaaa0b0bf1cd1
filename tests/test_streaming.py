"""The streaming machinery of conversions: loads ahead on a worker thread, reused scratch buffers,
file-to-file copies of unchanged bytes, and the writers that take them."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from modelport.checkpoint import Checkpoint
from modelport.conversion.plan import Step, keeps_bytes, transform
from modelport.conversion.rules import layout_permutation
from modelport.errors import FormatError
from modelport.formats import flax_msgpack, keras_h5
from modelport.formats._buffers import ScratchBuffers, aligned_copy
from modelport.formats._streaming import PREFETCH_AHEAD, prefetched
from modelport.formats.base import FileBytes, LazyTensor, read_transposed, write_array
from modelport.saving import save_checkpoint


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, str]] = []
        self.lock = threading.Lock()

    def add(self, kind: str, i: int) -> None:
        with self.lock:
            self.events.append((kind, i, threading.current_thread().name))

    def position(self, kind: str, i: int) -> int:
        return next(n for n, (k, j, _) in enumerate(self.events) if (k, j) == (kind, i))


def _lazy(n: int, log: Log, *, fail_at: int | None = None, delay: float = 0.0) -> list[tuple[str, LazyTensor]]:
    def load(i: int) -> np.ndarray:
        log.add("start", i)
        time.sleep(delay)
        if i == fail_at:
            raise FormatError("damaged on purpose", where=f"item {i}")
        log.add("end", i)
        return np.full(4, i, np.float32)

    return [(f"t{i}", LazyTensor("float32", (4,), lambda i=i: load(i), prefetch=True)) for i in range(n)]


def test_prefetched_loads_run_ahead_on_a_worker_in_order_and_never_too_far():
    log = Log()
    got = []
    for name, array in prefetched(_lazy(8, log), where="test"):
        i = int(name[1:])
        got.append(array[0])
        time.sleep(0.02)  # "writing" item i: the worker loads ahead meanwhile
        log.add("written", i)
    assert got == list(range(8))
    starts = [i for kind, i, _ in log.events if kind == "start"]
    assert starts == list(range(8))  # one at a time, in write order
    assert {thread for kind, _, thread in log.events if kind == "start"} == {"modelport-prefetch_0"}
    for j in range(PREFETCH_AHEAD + 1, 8):
        # item j may reuse item j - PREFETCH_AHEAD - 1's buffers: it starts only once that one is written
        assert log.position("start", j) > log.position("written", j - PREFETCH_AHEAD - 1)
    # and loads do overlap writes: items finished loading while the one before was being written
    assert sum(log.position("end", i) < log.position("written", i - 1) for i in range(1, 8)) >= 5


def test_items_already_in_a_file_do_not_stop_the_lookahead_nor_count_as_loads(tmp_path):
    """Biases copied file to file sit between kernels that load: the next kernel must still load ahead."""
    log = Log()
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"\0" * 16)
    items = []
    for i, (name, tensor) in enumerate(_lazy(12, log)):
        if i % 2:  # every other item is already in a file: no load
            tensor = LazyTensor("float32", (4,), lambda: pytest.fail("must not load"), file_bytes=FileBytes(str(raw), 0, 16))
        items.append((name, tensor))
    for name, value in prefetched(items, where="test"):
        i = int(name[1:])
        log.add("got", i)
        assert isinstance(value, FileBytes) is bool(i % 2)
        time.sleep(0.02)
        log.add("written", i)
    for i in range(12):
        before = log.events[: log.position("got", i)]
        live = {j for kind, j, _ in before if kind == "start" and j >= i}
        assert len(live) <= PREFETCH_AHEAD + 1  # the scratch generations the converter keeps
    # kernel i + 2 (past the file item between) loaded while kernel i was written
    assert sum(log.position("end", i + 2) < log.position("written", i) for i in range(0, 10, 2)) >= 4


def test_a_failing_load_surfaces_in_the_writer_and_no_load_outlives_it():
    log = Log()
    seen = []
    with pytest.raises(FormatError, match="damaged on purpose"):
        for name, _ in prefetched(_lazy(8, log, fail_at=3, delay=0.01), where="test"):
            seen.append(name)
    assert seen == ["t0", "t1", "t2"]
    started = {i for kind, i, _ in log.events if kind == "start"}
    ended = {i for kind, i, _ in log.events if kind == "end"}
    assert started - ended == {3}  # everything else that started has finished: nothing runs on after the error
    snapshot = list(log.events)
    time.sleep(0.05)
    assert log.events == snapshot


def test_stopping_early_waits_for_the_running_load():
    log = Log()
    items = prefetched(_lazy(8, log, delay=0.03), where="test")
    next(items)
    items.close()
    snapshot = list(log.events)
    started = {i for kind, i, _ in snapshot if kind == "start"}
    assert started == {i for kind, i, _ in snapshot if kind == "end"}
    time.sleep(0.1)
    assert log.events == snapshot  # no load starts or runs after close()


@pytest.mark.parametrize("generations,intact", [(PREFETCH_AHEAD + 1, True), (PREFETCH_AHEAD, False)])
def test_scratch_generations_keep_each_array_intact_until_the_writer_moves_on(generations, intact):
    """With one generation fewer than the lookahead needs, a buffer is overwritten under the writer:
    the same test then sees it (so it can fail)."""
    scratch = ScratchBuffers(generations=generations)
    rng = np.random.default_rng(0)
    sources = [rng.standard_normal((512, 640)).astype(np.float32) for _ in range(8)]  # 1.3 MB: pooled sizes

    def load(i: int) -> np.ndarray:
        with scratch.lending():
            return aligned_copy(sources[i].T)

    items = [(f"t{i}", LazyTensor("float32", (640, 512), lambda i=i: load(i), prefetch=True)) for i in range(8)]
    intact_seen = []
    for i, (_, array) in enumerate(prefetched(items, where="test")):
        time.sleep(0.03)  # the loads ahead run (and would overwrite a shared buffer) while this one is "written"
        intact_seen.append(np.array_equal(array, sources[i].T))
    assert all(intact_seen) is intact


def _raw_file(path: Path, payload: bytes, pad: int = 100) -> FileBytes:
    path.write_bytes(b"\xee" * pad + payload + b"\xee" * 7)
    return FileBytes(str(path), pad, len(payload))


@pytest.mark.parametrize("where", ["same-folder", "tmpfs"])
def test_file_bytes_are_copied_exactly_at_the_writer_position(tmp_path, where):
    if where == "tmpfs" and not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm here")
    folder = tmp_path if where == "same-folder" else Path("/dev/shm")
    payload = np.random.default_rng(1).bytes(3 * (1 << 20) + 13)
    source = _raw_file(folder / f"modelport-test-source-{os.getpid()}.bin", payload)
    try:
        out = tmp_path / "out.bin"
        with open(out, "wb") as fh:
            fh.write(b"head")
            write_array(fh, source)
            write_array(fh, np.arange(3, dtype=np.uint8))
        assert out.read_bytes() == b"head" + payload + bytes([0, 1, 2])
    finally:
        Path(source.path).unlink()


def test_file_bytes_of_a_truncated_source_are_a_format_error_naming_the_file(tmp_path):
    source = _raw_file(tmp_path / "short.bin", b"x" * 1000)
    short = FileBytes(source.path, source.offset, 5000)
    with open(tmp_path / "out.bin", "wb") as fh, pytest.raises(FormatError, match="ends before") as caught:
        write_array(fh, short)
    assert "short.bin" in str(caught.value)


@pytest.mark.trust("H9")
def test_a_source_rewritten_before_its_bytes_are_copied_is_refused(tmp_path):
    original = [("w", np.arange(1 << 18, dtype=np.float32))]
    save_checkpoint(tmp_path / "src", original)
    ckpt = Checkpoint.open(tmp_path / "src")
    found = ckpt.file_bytes("w")
    assert found is not None and found.nbytes == (1 << 20)
    time.sleep(0.01)
    save_checkpoint(tmp_path / "src", [("w", np.ones(1 << 18, dtype=np.float32))])  # another process's save
    with open(tmp_path / "out.bin", "wb") as fh, pytest.raises(FormatError, match="changed after it was opened"):
        write_array(fh, found)


def test_file_bytes_are_offered_only_where_the_file_holds_plain_little_endian_bytes(tmp_path):
    tensors = [("f", np.arange(6, dtype=np.float32).reshape(2, 3)), ("b", np.array([True, False]))]
    save_checkpoint(tmp_path / "st", tensors)
    save_checkpoint(tmp_path / "h5", tensors, format="h5", framework="tf")
    save_checkpoint(tmp_path / "mp", tensors, format="msgpack", framework="flax")
    for folder in ("st", "h5", "mp"):
        ckpt = Checkpoint.open(tmp_path / folder)
        found = ckpt.file_bytes("f")
        with open(found.path, "rb") as fh:
            fh.seek(found.offset)
            assert fh.read(found.nbytes) == tensors[0][1].tobytes()
        assert ckpt.file_bytes("b") is None  # bool bytes are checked (0 or 1) on the way: read, never copied


def test_h5_datasets_written_by_offset_read_back_in_libhdf5(tmp_path):
    h5py = pytest.importorskip("h5py")
    tensors = [("a/scalar:0", np.float32(2.5) * np.ones((), np.float32)), ("a/empty:0", np.zeros((0, 3), np.float32)),
               ("a/mask:0", np.array([True, False, True])), ("a/ids:0", np.arange(5, dtype=np.int64)),
               ("a/half:0", np.linspace(-1, 1, 7).astype(np.float16)), ("a/big:0", np.random.default_rng(2).standard_normal((700, 500)))]
    keras_h5.write(tmp_path / "w.h5", tensors, sharded=True)
    with h5py.File(tmp_path / "w.h5", "r") as f:
        for name, array in tensors:
            stored = f[name][()]
            assert stored.shape == array.shape and np.array_equal(stored, array), name


def test_chunked_msgpack_arrays_match_flax_bytes_from_arrays_and_from_file_bytes(tmp_path, monkeypatch):
    serialization = pytest.importorskip("flax.serialization")
    monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", 4096)
    monkeypatch.setattr(flax_msgpack, "MAX_CHUNK_SIZE", 4096)
    kernel = np.random.default_rng(3).standard_normal((37, 50)).astype(np.float32)  # 7,400 bytes: two chunks
    expected = serialization.to_bytes({"layer": {"kernel": kernel, "bias": np.ones(3, np.float32)}})
    flax_msgpack.write(tmp_path / "a.msgpack", [("layer/kernel", kernel), ("layer/bias", np.ones(3, np.float32))])
    assert (tmp_path / "a.msgpack").read_bytes() == expected
    source = _raw_file(tmp_path / "raw.bin", kernel.tobytes())
    lazy = LazyTensor("float32", kernel.shape, lambda: pytest.fail("copied bytes must not be loaded"), file_bytes=source)
    flax_msgpack.write(tmp_path / "b.msgpack", [("layer/kernel", lazy), ("layer/bias", np.ones(3, np.float32))])
    assert (tmp_path / "b.msgpack").read_bytes() == expected
    ckpt = Checkpoint.open(tmp_path / "b.msgpack")
    assert ckpt.file_bytes("layer/kernel") is None  # its bytes lie in two places: read, never copied
    assert ckpt.file_bytes("layer/bias") is not None and np.array_equal(ckpt["layer/kernel"], kernel)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int64", "uint8"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (40, 70000), (1030, 3000), (4096, 600)])
def test_a_matrix_read_transposed_in_bands_equals_a_read_then_a_transpose(tmp_path, shape, dtype):
    from modelport.dtypes import DTYPES
    from modelport.formats._buffers import is_aligned

    # (40, 70000): bands of the fewest rows; (1030, 3000) float32: two threads, rows not a multiple of the band
    array = np.random.default_rng(5).integers(0, 250, size=shape).astype(DTYPES[dtype].numpy)
    source = _raw_file(tmp_path / "m.bin", array.tobytes())
    out = read_transposed(source, dtype, shape, where="m.bin (tensor 'w')")
    assert out.dtype == array.dtype and out.shape == shape[::-1] and is_aligned(out)
    assert out.tobytes() == np.ascontiguousarray(array.T).tobytes()


@pytest.mark.parametrize("kept", [0.3, 0.8])  # the first thread's half fails, or only the second's
def test_a_truncated_matrix_read_transposed_is_a_format_error_naming_the_tensor(tmp_path, kept):
    array = np.ones((1030, 3000), np.float32)  # 12 MB: read on two threads
    path = tmp_path / "m.bin"
    path.write_bytes(array.tobytes()[: int(array.nbytes * kept)])
    with pytest.raises(FormatError, match="ends before the tensor's data") as caught:
        read_transposed(FileBytes(str(path), 0, array.nbytes), "float32", array.shape, where=f"{path} (tensor 'w')")
    assert str(path) in str(caught.value) and "'w'" in str(caught.value)


@pytest.mark.skipif(not {"tf", "flax"} <= set(__import__("modelport").adapters.available()), reason="needs the tf and flax adapters")
@pytest.mark.parametrize("source,to", [("gpt2/flax-msgpack", "tf"), ("gpt2/tf-h5", "flax"), ("bert/pt-safetensors", "tf")])
def test_the_converter_transposes_matrices_as_it_reads_them(golden, tmp_path, monkeypatch, source, to):
    import modelport

    whole_reads: list[str] = []
    read = Checkpoint.__getitem__
    monkeypatch.setattr(Checkpoint, "__getitem__", lambda self, name: whole_reads.append(name) or read(self, name))
    modelport.convert(golden / source, tmp_path, to=to, progress=False)
    monkeypatch.undo()
    theirs, ours = Checkpoint.open(golden / source), Checkpoint.open(tmp_path)
    written = {ours[name].tobytes() for name in ours}
    matrices = [name for name in theirs if len(theirs.info(name).shape) == 2]
    transposed = [name for name in matrices if np.ascontiguousarray(theirs[name].T).tobytes() in written
                  and theirs[name].tobytes() not in written]
    assert transposed, "the case must have matrices to transpose"
    assert not set(whole_reads) & set(transposed)  # each was read straight into its transpose


@pytest.mark.parametrize("source,sfw,target,tfw,ndim,order", [
    ("bert.encoder.layer.0.attention.self.query.weight", "pt", "bert/encoder/layer_._0/attention/self/query/kernel:0", "tf", 2, (1, 0)),
    ("bert/encoder/layer_._0/attention/self/query/kernel:0", "tf", "params/bert/encoder/layer/0/attention/self/query/kernel", "flax",
     2, None),  # two transposes that cancel: the bytes are copied as they are
    ("transformer/h_._0/attn/c_attn/weight:0", "tf", "params/transformer/h/0/attn/c_attn/kernel", "flax", 2, (1, 0)),
    ("conv.weight", "pt", "conv/kernel:0", "tf", 4, (2, 3, 1, 0)),
    ("conv/kernel:0", "tf", "conv.weight", "pt", 4, (3, 2, 0, 1)),
    ("bert.embeddings.word_embeddings.weight", "pt", "params/bert/embeddings/word_embeddings/embedding", "flax", 2, None),
    ("h.0.attn.c_attn.weight", "pt", "h.0.attn.c_attn.weight", "pt", 2, None),
])
def test_one_transpose_at_most_and_none_when_the_bytes_keep_their_order(source, sfw, target, tfw, ndim, order):
    assert layout_permutation(source, sfw, target, tfw, ndim) == order
    shape = tuple(range(2, 2 + ndim))
    step = Step(source, target, tuple(shape[i] for i in order) if order else shape, target)
    array = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    out = transform(step, array, sfw, tfw)
    assert np.array_equal(out, array.transpose(order) if order else array) and out.flags.c_contiguous
    assert keeps_bytes(step, ndim, sfw, tfw) is (order is None)


@pytest.mark.skipif(not {"tf", "flax"} <= set(__import__("modelport").adapters.available()), reason="needs the tf and flax adapters")
@pytest.mark.parametrize("source,to,copied", [
    ("gpt2/pt-safetensors", "tf", "all"),  # GPT-2's Conv1D weights keep their layout in TF
    ("gpt2/pt-safetensors", "flax", "all but kernels"),  # Flax kernels are transposed
    ("bert/tf-h5", "flax", "all"),  # TF Dense kernel -> Flax Dense kernel: the two transposes cancel
])
def test_the_converter_copies_exactly_the_tensors_whose_bytes_do_not_change(golden, tmp_path, source, to, copied):
    import modelport

    report = modelport.convert(golden / source, tmp_path, to=to, progress=False)
    written = set(report.converted)
    kernels = {name for name in written if name.endswith("kernel")}
    if copied == "all":
        assert set(report.unchanged) == written
    else:
        assert kernels and set(report.unchanged) == written - kernels
    ours, theirs = Checkpoint.open(tmp_path), Checkpoint.open(golden / source)
    source_bytes = {theirs[name].tobytes() for name in theirs}  # what was copied must be some source tensor's bytes
    for name in report.unchanged:
        assert ours[name].tobytes() in source_bytes, name
