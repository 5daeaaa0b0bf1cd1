"""Flax generate() (modelport_flax.generation): one compiled loop over a fixed-size cache, against transformers
4.57.6's PyTorch generate on every golden GPT-2 and Llama-family checkpoint (tests/golden/make_generation_golden.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from modelport_flax import FlaxAutoModelForCausalLM
from modelport_flax.generation import JAX_OPS, init_cache

from _support.generation import (
    COMPILED_GENERATIONS,
    NEW_TOKENS,
    PROCESSOR_RTOL,
    PROCESSORS,
    SEARCHES,
    model_loader,
    processor_golden,
    sequences,
    through_chain,
)

SCORE_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def models():
    return model_loader(FlaxAutoModelForCausalLM)


@pytest.mark.slow
@pytest.mark.parametrize(("checkpoint", "search"), COMPILED_GENERATIONS)
def test_token_ids_equal_transformers_pytorch_generate(models, checkpoint, search):
    """transformers' Flax generate returns max_length tokens per row: the PyTorch ids, then the fill token."""
    golden = sequences(checkpoint)
    out = models(checkpoint).generate(golden["input_ids"], attention_mask=golden["attention_mask"], max_new_tokens=NEW_TOKENS,
                                      pad_token_id=0, return_dict_in_generate=True, output_scores=True, **SEARCHES[search])
    want = golden[f"{search}/sequences"]
    got = np.asarray(out.sequences)
    np.testing.assert_array_equal(got[:, :want.shape[1]], want)
    fill = 0 if "beam" not in search else models(checkpoint).generation_config.eos_token_id  # transformers' beam fill
    assert (got[:, want.shape[1]:] == fill).all()
    if search == "greedy":
        np.testing.assert_allclose(np.asarray(out.scores), golden["greedy/scores"], atol=SCORE_TOLERANCE, rtol=0)
    if "beam" in search:
        np.testing.assert_allclose(np.asarray(out.sequences_scores), golden[f"{search}/sequences_scores"],
                                   atol=SCORE_TOLERANCE, rtol=0)


@pytest.mark.parametrize("checkpoint", ["gpt2", "mistral", "gemma"])
def test_logits_with_the_fixed_size_cache_equal_a_full_recomputation_step_by_step(models, checkpoint):
    """32 steps (GPT-2: its 32 positions) on the left-padded batch; Mistral slides a 4-token window. Attention is
    causal, so one forward over the final tokens recomputes every step's logits."""
    model = models(checkpoint)
    golden = sequences(checkpoint)
    ids, mask = jnp.asarray(golden["input_ids"]), jnp.asarray(golden["attention_mask"])
    prompt = ids.shape[1]
    total = 32 if checkpoint == "gpt2" else prompt + 32
    layers, heads, head_dim = model.cache_layout()
    cache = init_cache(layers, ids.shape[0], total, heads, head_dim, jnp.float32)
    full_mask = jnp.concatenate([mask, jnp.ones((2, total - prompt), mask.dtype)], 1)
    positions = jnp.where(full_mask == 0, 1, jnp.cumsum(full_mask, -1) - 1)
    apply = jax.jit(lambda params, tokens, cache, index, pos: model.module.apply(
        {"params": params}, tokens, full_mask, None, pos, True, False, False, cache, index, 1))
    stepwise, index, tokens = [], 0, ids
    while index + tokens.shape[1] <= total - 1:
        width = tokens.shape[1]
        out = apply(model.params, tokens, cache, index, jax.lax.dynamic_slice_in_dim(positions, index, width, 1))
        cache = out["past_key_values"]
        stepwise.append(out["logits"][:, -1])
        index += width
        tokens = jnp.argmax(out["logits"][:, -1], -1)[:, None].astype(ids.dtype)
        ids = jnp.concatenate([ids, tokens], 1)
    full = model(ids, attention_mask=full_mask[:, :ids.shape[1]], position_ids=positions[:, :ids.shape[1]]).logits
    recomputed = full[:, prompt - 1:ids.shape[1] - 1]
    assert len(stepwise) == recomputed.shape[1] >= 23
    worst = float(jnp.abs(jnp.stack(stepwise, 1) - recomputed).max())
    assert worst <= 1e-5, worst


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_each_processor_with_jax_ops_under_jit_equals_transformers_in_a_longer_buffer(name):
    """Traced length, and a buffer with unwritten columns, as in the compiled loop."""
    golden = processor_golden()
    ids = golden["ids"].astype(np.int32)
    buffer = jnp.asarray(np.concatenate([ids, np.full((2, 5), 4, np.int32)], 1))
    run = jax.jit(lambda buf, scores, length: PROCESSORS[name](buf, scores, length, JAX_OPS))
    got = run(buffer, jnp.asarray(golden["scores"]), jnp.int32(ids.shape[1]))
    np.testing.assert_allclose(np.asarray(got), golden[name], rtol=PROCESSOR_RTOL, atol=0)


def test_the_processor_chain_with_jax_ops_equals_transformers():
    golden = processor_golden()
    scores = through_chain(jnp.asarray(golden["ids"], jnp.int32), jnp.asarray(golden["scores"]), JAX_OPS)
    np.testing.assert_allclose(np.asarray(scores), golden["chain"], rtol=PROCESSOR_RTOL, atol=0)


def test_top_k_1_sampling_is_greedy_a_seeded_sample_repeats_and_a_second_call_does_not_compile(models):
    model = models("llama")
    golden = sequences("llama")
    args = dict(attention_mask=golden["attention_mask"], max_new_tokens=12, pad_token_id=0)
    greedy = model.generate(golden["input_ids"], **args).sequences
    top1 = model.generate(golden["input_ids"], do_sample=True, top_k=1, **args).sequences
    np.testing.assert_array_equal(greedy, top1)

    def sample(seed: int):
        return np.asarray(model.generate(golden["input_ids"], do_sample=True, temperature=1.5, top_p=0.95,
                                         prng_key=jax.random.PRNGKey(seed), **args).sequences)

    first = sample(3)
    compiled = dict(model._generation_functions)
    np.testing.assert_array_equal(first, sample(3))
    assert not np.array_equal(first, sample(4))
    assert model._generation_functions == compiled  # the same function object: no new trace
    (function,) = [f for key, f in compiled.items() if key[0].mode == "sample" and len(key[0].processors) > 1]
    assert function._cache_size() == 1  # and jax compiled it once for these shapes


def test_generation_config_json_is_loaded_and_saved(tmp_path, models):
    model = models("llama")
    assert model.can_generate() and model.generation_config.eos_token_id == 2
    model.generation_config.max_new_tokens = 3
    try:
        model.save_pretrained(tmp_path)
    finally:
        model.generation_config.max_new_tokens = None
    again = FlaxAutoModelForCausalLM.from_pretrained(tmp_path)
    assert again.generation_config.max_new_tokens == 3
    assert again.generate(np.array([[5, 6]])).sequences.shape == (1, 5)
