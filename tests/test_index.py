import json
import os

import pytest
from safetensors import safe_open

from modelport.errors import CheckpointIndexError, CheckpointNotFoundError
from modelport.index import read_index, write_index

from _support.golden import ARCHS

SHARDED = ["pt-safetensors-sharded", "pt-bin-sharded", "tf-h5-sharded", "tf-safetensors-sharded", "flax-msgpack-sharded"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("folder", SHARDED)
def test_golden_indexes_read_and_their_shards_exist(golden, arch, folder):
    (index_file,) = (golden / arch / folder).glob("*.index.json")
    index = read_index(index_file)
    assert len(index.shard_files) >= 2 and len(index.weight_map) > 10
    index.check_shards_exist(index_file.parent)
    assert index.metadata["total_size"] > 0


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("folder", ["pt-safetensors-sharded"])
def test_golden_safetensors_shards_hold_exactly_what_the_index_says(golden, arch, folder):
    index = read_index(golden / arch / folder / "model.safetensors.index.json")
    contents = {}
    for shard in index.shard_files:
        with safe_open(golden / arch / folder / shard, framework="numpy") as f:
            contents[shard] = list(f.keys())
    index.check_contents(contents)
    moved = dict(contents)
    first, second = index.shard_files[:2]
    moved[second] = moved[second] + [moved[first][0]]
    moved[first] = moved[first][1:]
    with pytest.raises(CheckpointIndexError, match="different shard than the index says"):
        index.check_contents(moved)


def test_write_then_read_round_trip(tmp_path):
    write_index(tmp_path / "m.index.json", {"b": "m-00002-of-00002.x", "a": "m-00001-of-00002.x"}, {"total_size": 8})
    text = (tmp_path / "m.index.json").read_text()
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
    index = read_index(tmp_path / "m.index.json")
    assert index.weight_map == {"a": "m-00001-of-00002.x", "b": "m-00002-of-00002.x"} and index.metadata == {"total_size": 8}


@pytest.mark.parametrize(
    "shard",
    ["../../x.safetensors", "/etc/passwd", "C:x.safetensors", "C:\\x", "\\\\server\\share\\x", "\\x", "sub/x.safetensors",
     "..", "", "a\0b", "x" * 300, 5, None],
)
@pytest.mark.trust("E1", "E10")
def test_hostile_shard_names_are_refused(tmp_path, shard):
    (tmp_path / "m.index.json").write_text(json.dumps({"metadata": {}, "weight_map": {"w": shard}}))
    with pytest.raises(CheckpointIndexError) as info:
        read_index(tmp_path / "m.index.json")
    assert "shard name" in str(info.value) and "'w'" in str(info.value)


@pytest.mark.parametrize(
    "content, problem",
    [
        ('{"weight_map": []}', "no weight_map object"),
        ('{"metadata": {}}', "no weight_map object"),
        ('{"weight_map": {"a": "s"}, "metadata": []}', "metadata must be an object"),
        ('{"weight_map": {"a": "s", "a": "t"}}', "appears twice"),
        ("[]", "top level must be a JSON object"),
    ],
)
@pytest.mark.trust("E6", "E11")
def test_malformed_indexes(tmp_path, content, problem):
    (tmp_path / "m.index.json").write_text(content)
    with pytest.raises(CheckpointIndexError, match=problem):
        read_index(tmp_path / "m.index.json")


def test_missing_index_file_is_a_modelport_error(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        read_index(tmp_path / "model.safetensors.index.json")


@pytest.mark.trust("E2", "E4")
def test_missing_and_irregular_shards_are_named(tmp_path):
    write_index(tmp_path / "m.index.json", {"a": "s1", "b": "s2", "c": "s3"})
    (tmp_path / "s1").write_bytes(b"x")
    os.mkfifo(tmp_path / "s3")
    index = read_index(tmp_path / "m.index.json")
    with pytest.raises(CheckpointIndexError, match="1 shard file.s. listed in the index are missing") as info:
        index.check_shards_exist(tmp_path)
    assert "s2" in str(info.value)
    (tmp_path / "s2").symlink_to(tmp_path / "s1")  # a link to a regular file is fine (the Hub cache uses them)
    with pytest.raises(CheckpointIndexError, match="not regular files"):
        index.check_shards_exist(tmp_path)


@pytest.mark.trust("E5")
def test_contents_checks_name_the_tensor(tmp_path):
    write_index(tmp_path / "m.index.json", {"a": "s1", "b": "s2"})
    index = read_index(tmp_path / "m.index.json")
    with pytest.raises(CheckpointIndexError, match="'b' is listed in the index but absent"):
        index.check_contents({"s1": ["a"], "s2": []})
    with pytest.raises(CheckpointIndexError, match="missing from the index"):
        index.check_contents({"s1": ["a", "z"], "s2": ["b"]})
    with pytest.raises(CheckpointIndexError, match="stored in two shards"):
        index.check_contents({"s1": ["a", "b"], "s2": ["b"]})
