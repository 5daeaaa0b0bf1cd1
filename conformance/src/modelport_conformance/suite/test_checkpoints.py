"""Save and load round trips in safetensors and the adapter's native formats, single and sharded, with valid shards."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.checkpoint import Checkpoint
from modelport.dtypes import DTYPES
from modelport_conformance.samples import sample_array

LIMIT = 4096  # bytes per shard in the sharded case


def _state(adapter):
    tensors = {f"layer_{i}/{dtype}": adapter.from_numpy(sample_array(dtype, (4, 8), seed=i))
               for i, dtype in enumerate(adapter.capabilities.exact_dtypes)}
    tensors["layer_big/float32"] = adapter.from_numpy(sample_array("float32", (48, 40), seed=99))  # 7,680 bytes: alone
    return tensors


def test_save_and_load_round_trip_is_exact(adapter, checkpoint_format, sharded, tmp_path):
    tensors = _state(adapter)
    adapter.save_state(tensors, tmp_path, format=checkpoint_format, max_shard_size=LIMIT if sharded else "5GB")
    back = adapter.load_state(tmp_path)
    lost = sorted(set(tensors) - set(back))
    assert not lost, f"{adapter.name}: tensors missing after a {checkpoint_format} save and load: {lost}"
    assert not set(back) - set(tensors), f"{adapter.name}: tensors appeared: {sorted(set(back) - set(tensors))}"
    for name, tensor in tensors.items():
        want, got = adapter.to_numpy(tensor), adapter.to_numpy(back[name])
        assert adapter.dtype_of(back[name]) == adapter.dtype_of(tensor), (
            f"{adapter.name}: {name} was {adapter.dtype_of(tensor)} and came back {adapter.dtype_of(back[name])}")
        assert got.shape == want.shape and got.tobytes() == want.tobytes(), f"{adapter.name}: {name}'s values changed"


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
