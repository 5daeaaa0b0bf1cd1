"""The shard splitter, tested with fake tensors (lists) first, then real arrays."""

import numpy as np
import pytest

from modelport.errors import ModelportError
from modelport.sharding import is_shard_of, parse_size, plan_shards, shard_file_name, stale_shards


@pytest.mark.parametrize(
    "text, expected",
    [
        (1000, 1000), ("5GB", 5 * 10**9), ("1.5GB", 1_500_000_000), ("500MiB", 500 * 2**20), ("100KB", 100_000),
        ("100kB", 100_000), ("10 MB", 10**7), ("2TiB", 2 * 2**40), ("64B", 64), ("7", 7), ("0.5KiB", 512),
    ],
)
def test_size_strings(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["5Gb", "5gb", "five GB", "5 XB", "", "-1GB", "1e3MB", 0, -5, 1.5, None, True])
def test_bad_size_strings_are_clear_errors(bad):
    with pytest.raises(ModelportError, match="max_shard_size"):
        parse_size(bad)


def fake(n, storage=None):
    """A fake tensor: n bytes, optionally sharing a storage key."""
    return {"n": n, "storage": storage}


def plan(items, limit):
    return plan_shards(items, limit, storage_size=lambda t: t["n"], storage_id=lambda t: t["storage"])


def test_greedy_in_order():
    result = plan([("a", fake(4)), ("b", fake(4)), ("c", fake(4)), ("d", fake(1))], 8)
    assert result.shards == [["a", "b"], ["c", "d"]] and result.sizes == [8, 5] and result.total_size == 13


def test_oversize_tensor_is_alone_and_never_an_empty_shard():
    result = plan([("big", fake(20)), ("a", fake(3)), ("huge", fake(30)), ("b", fake(3))], 10)
    assert result.shards == [["big"], ["a"], ["huge"], ["b"]]
    assert all(result.shards)


def test_shared_storage_counted_once_and_kept_with_the_first_name():
    tied = fake(6, storage="emb")
    result = plan([("emb", tied), ("x", fake(4)), ("y", fake(6)), ("lm_head", fake(6, storage="emb"))], 10)
    assert result.shards == [["emb", "x", "lm_head"], ["y"]] and result.sizes == [10, 6]
    assert result.weight_map(["s1", "s2"]) == {"emb": "s1", "x": "s1", "lm_head": "s1", "y": "s2"}


def test_every_tensor_once_and_limits_kept_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(0, 50, size=rng.integers(1, 30))
        limit = int(rng.integers(1, 80))
        result = plan([(f"t{i}", fake(int(s))) for i, s in enumerate(sizes)], limit)
        assert [n for shard in result.shards for n in shard] == [f"t{i}" for i in range(len(sizes))]
        for names, size in zip(result.shards, result.sizes):
            assert names and (size <= limit or len(names) == 1)


def test_works_on_numpy_arrays_with_views():
    base = np.zeros(100, dtype=np.float32)
    items = [("whole", base), ("view", base[10:20]), ("other", np.ones(50, np.float32))]
    result = plan_shards(
        items, 400, storage_size=lambda a: (a.base if a.base is not None else a).nbytes,
        storage_id=lambda a: id(a.base if a.base is not None else a),
    )
    assert result.shards == [["whole", "view"], ["other"]] and result.sizes == [400, 200]


def test_file_names():
    assert shard_file_name("model.safetensors", 0, 3) == "model-00001-of-00003.safetensors"
    assert shard_file_name("tf_model.h5", 11, 12) == "tf_model-00012-of-00012.h5"
    assert shard_file_name("model.fp16.safetensors", 1, 2) == "model.fp16-00002-of-00002.safetensors"
    assert shard_file_name("flax_model.msgpack", 0, 1) == "flax_model.msgpack"
    assert is_shard_of("pytorch_model-00002-of-00005.bin", "pytorch_model.bin")
    assert not is_shard_of("pytorch_model-2-of-5.bin", "pytorch_model.bin")
    assert not is_shard_of("model-00001-of-00002.safetensors", "pytorch_model.bin")


def test_stale_shards_only_match_the_pattern(tmp_path):
    for name in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                 "model-00001-of-00003.safetensors", "model.safetensors", "tokenizer.json", "model-notes.safetensors"]:
        (tmp_path / name).write_bytes(b"x")
    stale = stale_shards(tmp_path, "model.safetensors", keep=["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
    assert [p.name for p in stale] == ["model-00001-of-00003.safetensors"]
