"""The Flax Llama family (Llama, Mistral, Qwen2, Gemma) against transformers 4.57.6's outputs on a left-padded batch.

Golden data: ``tests/golden/make_llama_golden.py``. Every load, transformers'
own Flax saves (Llama, Mistral, Gemma) included, is compared with transformers'
PyTorch outputs: its Flax classes ignore rope scaling and Mistral's window on a
padded batch, so their own outputs are not the reference. Left-padding
positions are not compared: no later position reads them.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from modelport_flax import FlaxAutoModel, FlaxAutoModelForCausalLM, FlaxAutoModelForSequenceClassification
from modelport_flax.models import DECODER_CLASSES

from _support.llama_family import CASES, FOLDER, MANIFEST, TOLERANCE, inputs, loads, max_diff

BF16_TOLERANCE = 0.05  # bfloat16 computation in XLA against PyTorch's bfloat16 kernels: a few bfloat16 ulps of logits near 1.5
LOADS = loads("pt-safetensors", "pt-bin", "flax-msgpack")


def _auto(case: str):
    return FlaxAutoModelForSequenceClassification if case.endswith("seqcls") else FlaxAutoModelForCausalLM


@pytest.mark.parametrize("case, folder", LOADS, ids=[f"{c}-{f}" for c, f in LOADS])
def test_golden_checkpoint_gives_transformers_outputs(case, folder):
    model, info = _auto(case).from_pretrained(FOLDER / case / folder, output_loading_info=True)
    assert type(model).__name__ == "Flax" + MANIFEST["cases"][case]["class"]
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    batch = inputs(case)
    reference = np.load(FOLDER / case / "outputs-pt.npz")  # the truth, whichever framework saved the weights
    for masked, prefix in ((True, "masked"), (False, "nomask")):
        kwargs = {k: v for k, v in batch.items() if masked or k != "attention_mask"}
        out = model(**kwargs, output_hidden_states=True)
        mask = batch["attention_mask"] if masked else np.ones_like(batch["attention_mask"])
        assert max_diff(np.asarray(out["logits"]), reference[f"{prefix}/logits"], mask) <= TOLERANCE, prefix
        states = [k for k in reference.files if k.startswith(f"{prefix}/hidden_states/")]
        assert len(out["hidden_states"]) == len(states)
        for i, state in enumerate(out["hidden_states"]):
            assert max_diff(np.asarray(state), reference[f"{prefix}/hidden_states/{i}"], mask) <= TOLERANCE, (prefix, i)


@pytest.mark.parametrize("case", [c for c in CASES if not c.endswith("seqcls")])
def test_the_bare_model_loads_the_causal_lm_checkpoint(case):
    model, info = FlaxAutoModel.from_pretrained(FOLDER / case / "pt-safetensors", output_loading_info=True)
    assert type(model) is DECODER_CLASSES[model.config.model_type][0]
    assert info["missing_keys"] == [] and info["mismatched_keys"] == []
    batch = inputs(case)
    hidden = np.asarray(model(**batch)["last_hidden_state"])
    expected = np.load(FOLDER / case / "outputs-pt.npz")["masked/last_hidden_state"]
    assert max_diff(hidden, expected, batch["attention_mask"]) <= TOLERANCE


def test_jitted_call_gives_the_same_logits():
    import jax

    model = FlaxAutoModelForCausalLM.from_pretrained(FOLDER / "mistral" / "pt-safetensors")
    batch = inputs("mistral")
    jitted = jax.jit(lambda params, ids, mask: model(ids, attention_mask=mask, params=params)["logits"])
    eager = np.asarray(model(**batch)["logits"])
    np.testing.assert_allclose(np.asarray(jitted(model.params, batch["input_ids"], batch["attention_mask"])), eager, atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, "auto"])
def test_a_bfloat16_checkpoint_keeps_bfloat16_params_and_computes_in_bfloat16(dtype):
    case = "llama"
    model = FlaxAutoModelForCausalLM.from_pretrained(FOLDER / case / "pt-safetensors-bf16", dtype=dtype)
    import jax

    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(model.params)} == {jnp.dtype(jnp.bfloat16)}
    batch = inputs(case)
    logits = np.asarray(model(**batch)["logits"])
    assert logits.dtype == jnp.bfloat16
    reference = np.load(FOLDER / case / "outputs-pt-bf16.npz")["masked/logits"]
    assert max_diff(logits, reference, batch["attention_mask"]) <= BF16_TOLERANCE


@pytest.mark.parametrize("case", CASES)
def test_save_pretrained_and_reload_give_the_same_logits(case, tmp_path):
    model = _auto(case).from_pretrained(FOLDER / case / "pt-safetensors")
    model.save_pretrained(tmp_path)
    again = _auto(case).from_pretrained(tmp_path)
    batch = inputs(case)
    np.testing.assert_array_equal(np.asarray(again(**batch)["logits"]), np.asarray(model(**batch)["logits"]))


@pytest.mark.parametrize("case", ["llama", "llama-dynamic"])
def test_positions_given_or_not_take_the_graph_or_host_tables_and_agree(case):
    """Without position_ids the rotary tables are host constants; with them, computed in the graph."""
    model = FlaxAutoModelForCausalLM.from_pretrained(FOLDER / case / "pt-safetensors")
    batch = inputs(case)
    positions = np.broadcast_to(np.arange(batch["input_ids"].shape[1]), batch["input_ids"].shape)
    host = np.asarray(model(**batch)["logits"])
    graph = np.asarray(model(**batch, position_ids=positions)["logits"])
    np.testing.assert_allclose(graph, host, atol=1e-5)  # cos/sin by numpy or by XLA: a few float32 ulps apart
    reference = np.load(FOLDER / case / "outputs-pt.npz")["masked/logits"]
    assert max_diff(graph, reference, batch["attention_mask"]) <= TOLERANCE


def test_the_fused_attention_path_gives_the_explicit_paths_logits(monkeypatch):
    """On a GPU (and for one query a row) the attention is jax.nn.dot_product_attention; checked here on full prompts."""
    import jax

    import modelport_flax.models.llama as llama

    model = FlaxAutoModelForCausalLM.from_pretrained(FOLDER / "mistral" / "pt-safetensors")
    batch = inputs("mistral")
    explicit = np.asarray(model(**batch)["logits"])
    fused_calls = []
    real = jax.nn.dot_product_attention
    monkeypatch.setattr(llama, "_use_fused_attention", lambda queries: True)
    monkeypatch.setattr(jax.nn, "dot_product_attention", lambda *a, **k: fused_calls.append(1) or real(*a, **k))
    fused = np.asarray(model(**batch)["logits"])
    assert len(fused_calls) == model.config.num_hidden_layers  # the fused path really ran, once per layer
    np.testing.assert_allclose(fused, explicit, atol=1e-5)


def test_dynamic_rope_scaling_works_jitted_beyond_the_context():
    import jax

    model = FlaxAutoModelForCausalLM.from_pretrained(FOLDER / "llama-dynamic" / "pt-safetensors")
    batch = inputs("llama-dynamic")
    jitted = jax.jit(lambda params, ids, mask: model(ids, attention_mask=mask, params=params)["logits"])
    logits = np.asarray(jitted(model.params, batch["input_ids"], batch["attention_mask"]))
    reference = np.load(FOLDER / "llama-dynamic" / "outputs-pt.npz")["masked/logits"]
    assert max_diff(logits, reference, batch["attention_mask"]) <= TOLERANCE


def test_the_smollm2_gguf_file_gives_transformers_logits():
    """A real Q4_1 GGUF file: llama.cpp's names and blocks, dequantized; transformers' logits within 1e-4."""
    from _support.gguf import assert_transformers_logits, input_ids, smollm2_file

    path = smollm2_file()
    model = FlaxAutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    assert type(model).__name__.endswith("LlamaForCausalLM") and model.config.tie_word_embeddings
    logits = np.asarray(model(input_ids())["logits"])
    assert_transformers_logits(logits)
