"""The torch adapter writes .bin files through the core's sharded, crash-safe save."""

from pathlib import Path

import pytest
import torch

from modelport.checkpoint import Checkpoint
from modelport.saving import save_checkpoint
from modelport_torch.serialization import write_bin

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"


@pytest.mark.parametrize("source", ["bert-mlm/pt-safetensors", "gpt2/tf-h5", "bert/flax-msgpack-sharded", "bert/pt-safetensors-bf16"])
@pytest.mark.parametrize("shard", [None, "9KB"], ids=["single", "sharded"])
def test_rewrite_as_bin_reads_back_bit_identical(tmp_path, source, shard):
    ckpt = Checkpoint.open(GOLDEN / source)
    result = save_checkpoint(tmp_path, [(n, ckpt.lazy(n)) for n in ckpt], format="bin", writer=write_bin, max_shard_size=shard or "5GB")
    back = Checkpoint.open(tmp_path)
    assert back.format == "bin" and list(back) == list(ckpt)
    assert all(back[n].tobytes() == ckpt[n].tobytes() and back.info(n).dtype == ckpt.info(n).dtype for n in ckpt)
    assert (back.index is not None) == bool(shard) and len(result.files) == (1 if not shard else len(back.files))
    for file in result.files:  # and torch itself reads what was written
        loaded = torch.load(tmp_path / file, weights_only=True)
        assert all(loaded[n].shape == tuple(ckpt.info(n).shape) for n in loaded)
