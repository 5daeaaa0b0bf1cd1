"""The TF (Keras 3) Llama family against transformers 4.57.6's PyTorch outputs: Llama, Qwen2 and Gemma, which
transformers never had in TF, and Mistral, also from transformers' own TF save (whose own outputs ignore the sliding
window on a padded batch, so they are not the reference).

Golden data: ``tests/golden/make_llama_golden.py``. Left-padding positions are not compared: no later position reads them.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelport_tf import TFAutoModel, TFAutoModelForCausalLM, TFAutoModelForSequenceClassification
from modelport_tf.layers import named_variables
from modelport_tf.models import DECODER_CLASSES

from _support.llama_family import CASES, FOLDER, MANIFEST, TOLERANCE, inputs, loads, max_diff

LOADS = loads("pt-safetensors", "pt-bin", "tf-h5", "flax-msgpack")
BF16_TOLERANCE = 0.05  # bfloat16 computation with TF's kernels against PyTorch's: a few bfloat16 ulps of logits near 1.5


def _auto(case: str):
    return TFAutoModelForSequenceClassification if case.endswith("seqcls") else TFAutoModelForCausalLM


@pytest.mark.parametrize("case, folder", LOADS, ids=[f"{c}-{f}" for c, f in LOADS])
def test_golden_checkpoint_gives_transformers_outputs(case, folder):
    model, info = _auto(case).from_pretrained(FOLDER / case / folder, output_loading_info=True)
    assert type(model).__name__ == "TF" + MANIFEST["cases"][case]["class"]
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    batch = inputs(case)
    reference = np.load(FOLDER / case / "outputs-pt.npz")  # the truth, whichever framework saved the weights
    for masked, prefix in ((True, "masked"), (False, "nomask")):
        out = model({k: v for k, v in batch.items() if masked or k != "attention_mask"}, output_hidden_states=True)
        mask = batch["attention_mask"] if masked else np.ones_like(batch["attention_mask"])
        assert max_diff(np.asarray(out["logits"]), reference[f"{prefix}/logits"], mask) <= TOLERANCE, prefix
        assert len(out["hidden_states"]) == len([k for k in reference.files if k.startswith(f"{prefix}/hidden_states/")])
        for i, state in enumerate(out["hidden_states"]):
            assert max_diff(np.asarray(state), reference[f"{prefix}/hidden_states/{i}"], mask) <= TOLERANCE, (prefix, i)


def test_variable_names_are_transformers_tf_mistral_names():
    from modelport.checkpoint import Checkpoint

    model = TFAutoModelForCausalLM.from_pretrained(FOLDER / "mistral" / "pt-safetensors")
    theirs = Checkpoint.open(FOLDER / "mistral" / "tf-h5")  # transformers' TFMistralForCausalLM save
    assert theirs.framework == "tf"
    assert set(named_variables(model)) == set(theirs)


@pytest.mark.parametrize("case", [c for c in CASES if not c.endswith("seqcls")])
def test_the_bare_model_loads_the_causal_lm_checkpoint(case):
    model, info = TFAutoModel.from_pretrained(FOLDER / case / "pt-safetensors", output_loading_info=True)
    assert type(model) is DECODER_CLASSES[model.config.model_type][0]
    assert info["missing_keys"] == [] and info["mismatched_keys"] == []
    batch = inputs(case)
    hidden = np.asarray(model(batch)["last_hidden_state"])
    expected = np.load(FOLDER / case / "outputs-pt.npz")["masked/last_hidden_state"]
    assert max_diff(hidden, expected, batch["attention_mask"]) <= TOLERANCE


@pytest.mark.parametrize("case", ["mistral", "gemma", "llama-seqcls"])
def test_save_pretrained_and_reload_give_the_same_logits(case, tmp_path):
    model = _auto(case).from_pretrained(FOLDER / case / "pt-safetensors")
    model.save_pretrained(tmp_path)
    again = _auto(case).from_pretrained(tmp_path)
    batch = inputs(case)
    np.testing.assert_array_equal(np.asarray(again(batch)["logits"]), np.asarray(model(batch)["logits"]))


@pytest.mark.parametrize("dtype", ["bfloat16", "auto"])
def test_a_bfloat16_checkpoint_keeps_bfloat16_variables_and_computes_in_bfloat16(dtype):
    import tensorflow as tf

    case = "llama"
    model = TFAutoModelForCausalLM.from_pretrained(FOLDER / case / "pt-safetensors-bf16", dtype=dtype)
    assert {v.dtype for v in model.weights} == {"bfloat16"} and model.config.dtype == "bfloat16"
    batch = inputs(case)
    logits = model(**batch)["logits"]
    assert logits.dtype == tf.bfloat16
    reference = np.load(FOLDER / case / "outputs-pt-bf16.npz")["masked/logits"]
    logits = np.asarray(tf.cast(logits, tf.float32))
    assert max_diff(logits, reference, batch["attention_mask"]) <= BF16_TOLERANCE
    float32 = np.load(FOLDER / case / "outputs-pt.npz")["masked/logits"]
    assert max_diff(logits, float32, batch["attention_mask"]) > 0  # really computed in bfloat16


def test_dtype_casts_a_float32_checkpoint_and_the_default_stays_float32():
    import tensorflow as tf

    folder = FOLDER / "mistral" / "pt-safetensors"
    assert {v.dtype for v in TFAutoModelForCausalLM.from_pretrained(folder).weights} == {"float32"}
    half = TFAutoModelForCausalLM.from_pretrained(folder, dtype=tf.float16)
    assert {v.dtype for v in half.weights} == {"float16"}
    reference = np.load(FOLDER / "mistral" / "outputs-pt.npz")["masked/logits"]
    batch = inputs("mistral")
    logits = np.asarray(tf.cast(half(**batch)["logits"], tf.float32))
    assert np.isfinite(logits).all() and max_diff(logits, reference, batch["attention_mask"]) <= 0.05


def test_a_traced_call_gives_the_eager_logits():
    import tensorflow as tf

    model = TFAutoModelForCausalLM.from_pretrained(FOLDER / "qwen2" / "pt-safetensors")
    batch = inputs("qwen2")
    traced = tf.function(lambda ids, mask: model({"input_ids": ids, "attention_mask": mask})["logits"])
    np.testing.assert_allclose(np.asarray(traced(batch["input_ids"], batch["attention_mask"])),
                               np.asarray(model(batch)["logits"]), atol=1e-6)


def test_dynamic_rope_scaling_works_traced_beyond_the_context():
    import tensorflow as tf

    model = TFAutoModelForCausalLM.from_pretrained(FOLDER / "llama-dynamic" / "pt-safetensors")
    batch = inputs("llama-dynamic")
    traced = tf.function(lambda ids, mask: model({"input_ids": ids, "attention_mask": mask})["logits"])
    logits = np.asarray(traced(batch["input_ids"], batch["attention_mask"]))
    reference = np.load(FOLDER / "llama-dynamic" / "outputs-pt.npz")["masked/logits"]
    assert max_diff(logits, reference, batch["attention_mask"]) <= TOLERANCE


def test_the_smollm2_gguf_file_gives_transformers_logits():
    """A real Q4_1 GGUF file: llama.cpp's names and blocks, dequantized; transformers' logits within 1e-4."""
    from _support.gguf import assert_transformers_logits, input_ids, smollm2_file

    path = smollm2_file()
    model = TFAutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    assert type(model).__name__.endswith("LlamaForCausalLM") and model.config.tie_word_embeddings
    logits = np.asarray(model({"input_ids": input_ids()})["logits"])
    assert_transformers_logits(logits)
