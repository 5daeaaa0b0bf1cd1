"""Interrupted saves leave the folder loadable as the old or the new checkpoint, never a mix."""

import json

import numpy as np
import pytest

from modelport import saving
from modelport.checkpoint import Checkpoint
from modelport.errors import FormatError
from modelport.formats.base import LazyTensor
from modelport.saving import JOURNAL_NAME, TEMP_PREFIX, save_checkpoint


class Crash(Exception):
    pass


def _tensors(seed, n=6, size=1000):
    rng = np.random.default_rng(seed)
    return [(f"layer.{i}.weight", rng.standard_normal(size).astype(np.float32)) for i in range(n)]


def _state(folder):
    ckpt = Checkpoint.open(folder)
    return {name: ckpt[name].tobytes() for name in ckpt}


def _steps(tmp_path, old, new, old_shard, new_shard, fmt):
    """Every commit step a save of `new` over `old` goes through, in order."""
    folder = tmp_path / "probe"
    save_checkpoint(folder, old, max_shard_size=old_shard, format=fmt)
    seen = []
    saving._fault_hook = seen.append
    try:
        save_checkpoint(folder, new, max_shard_size=new_shard, format=fmt)
    finally:
        saving._fault_hook = None
    return seen


@pytest.mark.parametrize("fmt", ["safetensors", "msgpack", "h5"])
@pytest.mark.parametrize("old_shard, new_shard", [("2KB", "9KB"), ("9KB", "2KB"), ("100KB", "2KB"), ("2KB", "100KB")])
@pytest.mark.trust("H1", "H6")
def test_a_crash_at_any_commit_step_leaves_old_or_new(tmp_path, fmt, old_shard, new_shard):
    old, new = _tensors(1), _tensors(2)
    expected_old = {n: a.tobytes() for n, a in old}
    expected_new = {n: a.tobytes() for n, a in new}
    steps = _steps(tmp_path, old, new, old_shard, new_shard, fmt)
    assert steps[0] == "journal" and any(s.startswith("rename:") for s in steps)
    # also crash while the new files are being written, before the commit point
    for crash_at in ["writing", *steps]:
        folder = tmp_path / f"case-{crash_at.replace(':', '-')}"
        save_checkpoint(folder, old, max_shard_size=old_shard, format=fmt)
        (folder / "config.json").write_text("{}")

        def hook(step, crash_at=crash_at):
            if step == crash_at:
                raise Crash(step)

        saving._fault_hook = hook
        try:
            with pytest.raises(Crash):
                if crash_at == "writing":
                    broken = [*new[:3], ("boom", LazyTensor("float32", (4,), _explode))]
                    save_checkpoint(folder, broken, max_shard_size=new_shard, format=fmt)
                else:
                    save_checkpoint(folder, new, max_shard_size=new_shard, format=fmt)
        finally:
            saving._fault_hook = None
        state = _state(folder)  # opening finishes a committed save
        assert state in (expected_old, expected_new), crash_at
        assert state == (expected_old if crash_at in ("writing", "journal") else expected_new), crash_at
        assert (folder / "config.json").read_text() == "{}"
        assert not (folder / JOURNAL_NAME).exists()
        save_checkpoint(folder, new, max_shard_size=new_shard, format=fmt)  # the next save cleans up
        assert _state(folder) == expected_new
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def _explode():
    raise Crash("writing")


def test_a_failure_while_writing_a_first_save_leaves_nothing(tmp_path):
    with pytest.raises(Crash):
        save_checkpoint(tmp_path, [("x", np.ones(3, np.float32)), ("y", LazyTensor("float32", (4,), _explode))])
    assert not list(tmp_path.iterdir())


def test_damaged_journal_is_a_clear_error(tmp_path):
    save_checkpoint(tmp_path, _tensors(3))
    (tmp_path / JOURNAL_NAME).write_text(json.dumps({"renames": [["../../etc/passwd", "x"]], "deletes": []}))
    with pytest.raises(FormatError, match="journal is damaged"):
        Checkpoint.open(tmp_path)


@pytest.mark.trust("H8")
def test_leftover_temp_files_are_ignored_by_loaders_and_removed_by_the_next_save(tmp_path):
    save_checkpoint(tmp_path, _tensors(4), max_shard_size="2KB")
    (tmp_path / f"{TEMP_PREFIX}dead-model-00001-of-00009.safetensors").write_bytes(b"garbage")
    assert _state(tmp_path) == {n: a.tobytes() for n, a in _tensors(4)}
    save_checkpoint(tmp_path, _tensors(5), max_shard_size="2KB")
    assert not list(tmp_path.glob(TEMP_PREFIX + "*"))
