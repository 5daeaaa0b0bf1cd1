"""Checkpoint.open on every golden transformers checkpoint, and rewriting in every core format."""

import json

import numpy as np
import pytest

from modelport.checkpoint import Checkpoint, sniff_format
from modelport.errors import CheckpointNotFoundError, FormatError
from modelport.saving import save_checkpoint

from _support.golden import ARCHS
from _support.reference_readers import read_any

FOLDERS = {
    "pt-safetensors": ("pt", "safetensors"), "pt-safetensors-sharded": ("pt", "safetensors"),
    "pt-bin": ("pt", "bin"), "pt-bin-sharded": ("pt", "bin"),
    "tf-h5": ("tf", "h5"), "tf-h5-sharded": ("tf", "h5"),
    "tf-safetensors": ("tf", "safetensors"), "tf-safetensors-sharded": ("tf", "safetensors"),
    "flax-msgpack": ("flax", "msgpack"), "flax-msgpack-sharded": ("flax", "msgpack"),
    "flax-safetensors": ("flax", "safetensors"),
}
CASES = [pytest.param(arch, folder, id=f"{arch}-{folder}") for arch in ARCHS for folder in FOLDERS]


def _reference(folder):
    """Every tensor as the format's own library reads it, keyed like Checkpoint keys them."""
    out = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".safetensors", ".bin", ".h5", ".msgpack"):
            continue
        for name, array in read_any(path).items():
            if path.suffix == ".h5" and not path.stem.count("-of-"):
                layer, scope, name = name.split("/", 2)  # "<layer>/<scope>/<name>" -> "<name>"
            out.setdefault(name, array)
    return out


@pytest.mark.parametrize("arch, folder", CASES)
def test_golden_checkpoint_opens_and_every_tensor_is_bit_identical(golden, arch, folder):
    ckpt = Checkpoint.open(golden / arch / folder)
    assert (ckpt.framework, ckpt.format) == FOLDERS[folder]
    assert (ckpt.index is not None) == folder.endswith("sharded")
    reference = _reference(golden / arch / folder)
    assert sorted(ckpt) == sorted(reference)
    for name in ckpt:
        array = ckpt[name]
        info = ckpt.info(name)
        assert array.dtype == reference[name].dtype and array.shape == reference[name].shape == info.shape, name
        assert array.tobytes() == reference[name].tobytes(), name
    assert ckpt.total_bytes == sum(a.nbytes for a in reference.values())


def test_bfloat16_checkpoint_reads_exactly(golden):
    ckpt = Checkpoint.open(golden / "bert" / "pt-safetensors-bf16")
    reference = _reference(golden / "bert" / "pt-safetensors-bf16")
    assert {ckpt.info(n).dtype for n in ckpt} == {"bfloat16"}
    assert all(ckpt[n].tobytes() == reference[n].tobytes() for n in ckpt)


@pytest.mark.trust("B17", "J3")
def test_tied_weights_in_bin_files_are_reported_as_aliases(golden):
    assert Checkpoint.open(golden / "gpt2" / "pt-bin").aliases() == {"lm_head.weight": "transformer.wte.weight"}


def test_embedded_minilm(embedded):
    ckpt = Checkpoint.open(embedded)
    assert (ckpt.framework, ckpt.format, len(ckpt)) == ("pt", "safetensors", 104)
    assert ckpt.num_parameters == 22_713_216 and ckpt.num_values == 22_713_728
    assert ckpt.info("embeddings.position_ids").dtype == "int64"


WRITABLE = [("safetensors", "model.safetensors"), ("h5", "tf_model.h5"), ("msgpack", "flax_model.msgpack")]


@pytest.mark.parametrize("source", ["bert-mlm/pt-bin", "gpt2/tf-h5-sharded", "bert/flax-msgpack", "bert/pt-safetensors-bf16"])
@pytest.mark.parametrize("fmt, weights", WRITABLE, ids=[w[0] for w in WRITABLE])
@pytest.mark.parametrize("shard", [None, "9KB"], ids=["single", "sharded"])
def test_rewrite_in_every_format_reads_back_bit_identical(golden, tmp_path, source, fmt, weights, shard):
    ckpt = Checkpoint.open(golden / source)
    names = list(ckpt)
    result = save_checkpoint(
        tmp_path, [(n, ckpt.lazy(n)) for n in names], format=fmt, framework=ckpt.framework, max_shard_size=shard or "5GB"
    )
    back = Checkpoint.open(tmp_path)
    assert back.format == fmt and sorted(back) == sorted(names)  # a nested msgpack map groups names by prefix
    assert all(back[n].tobytes() == ckpt[n].tobytes() and back.info(n).dtype == ckpt.info(n).dtype for n in names)
    if shard:
        assert back.index is not None and len(result.files) >= 3
        for shard_file in result.files:
            shard = Checkpoint.open(tmp_path / shard_file)
            assert len(shard) == 1 or shard.total_bytes <= 9000  # only a lone oversize tensor may pass the limit
    else:
        assert result.files == [weights] and back.index is None
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.trust("H6")
def test_resave_removes_stale_shards_and_keeps_other_files(golden, tmp_path):
    ckpt = Checkpoint.open(golden / "gpt2" / "pt-safetensors")
    tensors = [(n, ckpt.lazy(n)) for n in ckpt]
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"other format, not ours to delete")
    first = save_checkpoint(tmp_path, tensors, max_shard_size="10KB")
    assert len(first.files) >= 4
    second = save_checkpoint(tmp_path, tensors, max_shard_size="30KB")
    assert len(second.files) < len(first.files) and set(second.removed) == set(first.files) - set(second.files)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted([*second.files, "model.safetensors.index.json", "tokenizer.json", "pytorch_model.bin"])
    third = save_checkpoint(tmp_path, tensors)  # single file: the index and every shard go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "pytorch_model.bin", "tokenizer.json"]
    assert set(third.removed) == {*second.files, "model.safetensors.index.json"}
    assert all(Checkpoint.open(tmp_path)[n].tobytes() == ckpt[n].tobytes() for n in ckpt)


def test_index_written_like_transformers(golden, tmp_path):
    ckpt = Checkpoint.open(golden / "bert" / "tf-h5")
    save_checkpoint(
        tmp_path, [(n, ckpt.lazy(n)) for n in ckpt], format="h5", framework="tf", max_shard_size="20KB", tf_scope="tf_bert_model"
    )
    ours = json.loads((tmp_path / "tf_model.h5.index.json").read_text())
    theirs = json.loads((golden / "bert" / "tf-h5-sharded" / "tf_model.h5.index.json").read_text())
    assert ours == theirs  # same keys (with the model scope), same shard assignment, same total size


@pytest.mark.trust("B18")
def test_extension_that_lies_is_refused(golden, tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes((golden / "bert" / "pt-safetensors" / "model.safetensors").read_bytes())
    with pytest.raises(FormatError, match="not the format its name says"):
        Checkpoint.open(tmp_path)
    assert sniff_format(tmp_path / "pytorch_model.bin") == "safetensors"


@pytest.mark.trust("E4")
def test_missing_weights_and_missing_shards_are_named(golden, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint weights found"):
        Checkpoint.open(tmp_path)
    for src in (golden / "bert" / "pt-safetensors-sharded").iterdir():
        (tmp_path / src.name).write_bytes(src.read_bytes())
    (tmp_path / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(FormatError, match="missing") as info:
        Checkpoint.open(tmp_path)
    assert "model-00002-of-00003.safetensors" in str(info.value)


@pytest.mark.trust("E5")
def test_tensor_in_the_wrong_shard_is_detected(golden, tmp_path):
    for src in (golden / "bert" / "pt-safetensors-sharded").iterdir():
        (tmp_path / src.name).write_bytes(src.read_bytes())
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    name = next(iter(index["weight_map"]))
    index["weight_map"][name] = (
        "model-00003-of-00003.safetensors"
        if index["weight_map"][name] != "model-00003-of-00003.safetensors"
        else "model-00001-of-00003.safetensors"
    )
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(FormatError, match=name):
        Checkpoint.open(tmp_path)


def test_lazy_tensors_read_on_demand(golden):
    ckpt = Checkpoint.open(golden / "gpt2" / "flax-msgpack-sharded")
    name = next(iter(ckpt))
    lazy = ckpt.lazy(name)
    assert (lazy.dtype, lazy.shape) == (ckpt.info(name).dtype, ckpt.info(name).shape)
    assert np.array_equal(lazy.load(), ckpt[name])


@pytest.mark.trust("C10")
def test_h5_big_endian_and_compressed_datasets_read_exactly(tmp_path):
    import h5py

    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    with h5py.File(tmp_path / "tf_model.h5", "w") as f:
        f.attrs["layer_names"] = np.asarray([b"a/big:0", b"a/packed:0", b"a/plain:0"])
        f.create_dataset("a/big:0", data=values.astype(">f4"))
        f.create_dataset("a/packed:0", data=values, chunks=(1, 4), compression="gzip")
        f.create_dataset("a/plain:0", data=values)
    ckpt = Checkpoint.open(tmp_path)
    for name in ("a/big:0", "a/packed:0", "a/plain:0"):
        assert ckpt[name].dtype == np.float32 and ckpt[name].tobytes() == values.tobytes(), name
