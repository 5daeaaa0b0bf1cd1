"""Save and load round trips in safetensors and the adapter's native formats, single and sharded, with valid shards."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.checkpoint import Checkpoint
from modelport.dtypes import DTYPES
from modelport_conformance.arrays import edge_case, same_bits
from modelport_conformance.samples import sample_array

LIMIT = 4096  # bytes per shard in the sharded case


def _arrays(adapter) -> dict[str, np.ndarray]:
    """What the test writes: every exact dtype with its special values, a 0-d and an empty tensor, and one
    tensor too big to share a shard."""
    dtypes = adapter.capabilities.exact_dtypes
    arrays = {f"layer_{i}/{dtype}": np.resize(edge_case(dtype, "specials"), (4, 8)) for i, dtype in enumerate(dtypes)}
    arrays["scalar/float32"] = edge_case("float32", "0-d")
    arrays["empty/float32"] = edge_case("float32", "empty-0x3")
    arrays["layer_big/float32"] = sample_array("float32", (48, 40), seed=99)  # 7,680 bytes: alone
    return arrays


def _state(adapter):
    return {name: adapter.from_numpy(array) for name, array in _arrays(adapter).items()}


def test_save_and_load_round_trip_is_exact(adapter, checkpoint_format, sharded, tmp_path):
    """Compared with the arrays the test wrote, not with the adapter's own view of what it saved."""
    written = _arrays(adapter)
    tensors = {name: adapter.from_numpy(array) for name, array in written.items()}
    adapter.save_state(tensors, tmp_path, format=checkpoint_format, max_shard_size=LIMIT if sharded else "5GB")
    back = adapter.load_state(tmp_path)
    lost = sorted(set(tensors) - set(back))
    assert not lost, f"{adapter.name}: tensors missing after a {checkpoint_format} save and load: {lost}"
    assert not set(back) - set(tensors), f"{adapter.name}: tensors appeared: {sorted(set(back) - set(tensors))}"
    results = {name: adapter.to_numpy(back[name]) for name in written}  # all first, so a reused buffer shows
    for name, want in written.items():
        got = results[name]
        assert got.dtype == want.dtype, f"{adapter.name}: {name} was written as {want.dtype} and came back {got.dtype}"
        assert got.shape == want.shape, f"{adapter.name}: {name} was written with shape {want.shape} and came back {got.shape}"
        assert same_bits(got, want), f"{adapter.name}: {name}'s values changed in a {checkpoint_format} save and load"


def test_sharded_saves_keep_the_limit_and_a_valid_index(adapter, checkpoint_format, sharded, tmp_path):
    if not sharded:
        pytest.skip("the limit and the index concern sharded saves")
    tensors = _state(adapter)
    adapter.save_state(tensors, tmp_path, format=checkpoint_format, max_shard_size=LIMIT)
    ckpt = Checkpoint.open(tmp_path)
    assert ckpt.index is not None, f"{adapter.name}: a {checkpoint_format} save over the {LIMIT}-byte limit wrote no index"
    per_shard: dict[str, list[int]] = {}
    for name in ckpt:
        info = ckpt.info(name)
        per_shard.setdefault(str(info.file), []).append(int(np.prod(info.shape)) * DTYPES[info.dtype].itemsize)
    files = {str(tmp_path / f) for f in ckpt.index.shard_files}
    assert set(per_shard) == files, f"{adapter.name}: shards without tensors: {sorted(files - set(per_shard))}"
    for shard, sizes in per_shard.items():
        assert sum(sizes) <= LIMIT or len(sizes) == 1, (
            f"{adapter.name}: shard {shard} holds {sum(sizes)} bytes in {len(sizes)} tensors, over the {LIMIT}-byte limit")
    assert set(ckpt) == set(tensors)
