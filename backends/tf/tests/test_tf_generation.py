"""TF generate() (modelport_tf.generation): one XLA-compiled loop over a fixed-size cache, against transformers
4.57.6's PyTorch generate on every golden GPT-2 and Llama-family checkpoint (tests/golden/make_generation_golden.py)."""

from __future__ import annotations

import numpy as np
import pytest

from modelport_tf import TFAutoModelForCausalLM
from modelport_tf._keras import tf
from modelport_tf.generation import TF_OPS, init_cache

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
    return model_loader(TFAutoModelForCausalLM)


@pytest.mark.slow
@pytest.mark.parametrize(("checkpoint", "search"), COMPILED_GENERATIONS)
def test_token_ids_equal_transformers_pytorch_generate(models, checkpoint, search):
    golden = sequences(checkpoint)
    out = models(checkpoint).generate(golden["input_ids"], attention_mask=golden["attention_mask"], max_new_tokens=NEW_TOKENS,
                                      pad_token_id=0, return_dict_in_generate=True, output_scores=True, **SEARCHES[search])
    np.testing.assert_array_equal(out.sequences.numpy(), golden[f"{search}/sequences"])
    if search == "greedy":
        np.testing.assert_allclose(out.scores.numpy(), golden["greedy/scores"], atol=SCORE_TOLERANCE, rtol=0)
    if "beam" in search:
        np.testing.assert_allclose(out.sequences_scores.numpy(), golden[f"{search}/sequences_scores"],
                                   atol=SCORE_TOLERANCE, rtol=0)


@pytest.mark.parametrize("checkpoint", ["gpt2", "mistral", "gemma"])
def test_logits_with_the_fixed_size_cache_equal_a_full_recomputation_step_by_step(models, checkpoint):
    """32 steps (GPT-2: its 32 positions) on the left-padded batch; Mistral slides a 4-token window. Attention is
    causal, so one forward over the final tokens recomputes every step's logits."""
    model = models(checkpoint)
    golden = sequences(checkpoint)
    ids, mask = golden["input_ids"].astype(np.int32), golden["attention_mask"].astype(np.int32)
    prompt = ids.shape[1]
    total = 32 if checkpoint == "gpt2" else prompt + 32
    layers, heads, head_dim = model.cache_layout()
    cache = init_cache(layers, 2, total, heads, head_dim, tf.float32)
    full_mask = np.concatenate([mask, np.ones((2, total - prompt), np.int32)], 1)
    positions = np.where(full_mask == 0, 1, np.cumsum(full_mask, -1) - 1).astype(np.int32)
    stepwise, index, tokens = [], 0, ids
    while index + tokens.shape[1] <= total - 1:
        width = tokens.shape[1]
        logits, cache = model.generation_step(tf.constant(tokens), tf.constant(full_mask), tf.constant(positions[:, index:index + width]),
                                              cache, tf.constant(index))
        stepwise.append(logits.numpy())
        index += width
        tokens = logits.numpy().argmax(-1)[:, None].astype(np.int32)
        ids = np.concatenate([ids, tokens], 1)
    full = model(ids, attention_mask=full_mask[:, :ids.shape[1]], position_ids=positions[:, :ids.shape[1]]).logits.numpy()
    recomputed = full[:, prompt - 1:ids.shape[1] - 1]
    assert len(stepwise) == recomputed.shape[1] >= 23
    worst = float(np.abs(np.stack(stepwise, 1) - recomputed).max())
    assert worst <= 1e-5, worst


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_each_processor_with_tf_ops_compiled_equals_transformers_in_a_longer_buffer(name):
    """Traced length, and a buffer with unwritten columns, under XLA as in the compiled loop."""
    golden = processor_golden()
    ids = golden["ids"].astype(np.int32)
    buffer = tf.constant(np.concatenate([ids, np.full((2, 5), 4, np.int32)], 1))
    run = tf.function(lambda buf, scores, length: PROCESSORS[name](buf, scores, length, TF_OPS), jit_compile=True)
    got = run(buffer, tf.constant(golden["scores"]), tf.constant(ids.shape[1]))
    np.testing.assert_allclose(got.numpy(), golden[name], rtol=PROCESSOR_RTOL, atol=0)


def test_the_processor_chain_with_tf_ops_equals_transformers():
    golden = processor_golden()
    scores = through_chain(tf.constant(golden["ids"], tf.int32), tf.constant(golden["scores"]), TF_OPS)
    np.testing.assert_allclose(scores.numpy(), golden["chain"], rtol=PROCESSOR_RTOL, atol=0)


def test_top_k_1_sampling_is_greedy_a_seeded_sample_repeats_and_a_second_call_does_not_compile(models):
    model = models("llama")
    golden = sequences("llama")
    args = dict(attention_mask=golden["attention_mask"], max_new_tokens=12, pad_token_id=0)
    greedy = model.generate(golden["input_ids"], **args).numpy()
    top1 = model.generate(golden["input_ids"], do_sample=True, top_k=1, **args).numpy()
    np.testing.assert_array_equal(greedy, top1)

    def sample(seed: int) -> np.ndarray:
        return model.generate(golden["input_ids"], do_sample=True, temperature=1.5, top_p=0.95, seed=(seed, 0), **args).numpy()

    first = sample(3)
    (function,) = [f for key, f in model._generation_functions.items() if key.mode == "sample" and len(key.processors) > 1]
    np.testing.assert_array_equal(first, sample(3))
    assert not np.array_equal(first, sample(4))
    assert function.experimental_get_tracing_count() == 1  # traced (and compiled) once for these shapes


def test_generation_config_json_is_loaded_and_saved(tmp_path, models):
    model = models("llama")
    assert model.can_generate() and model.generation_config.eos_token_id == 2
    model.generation_config.max_new_tokens = 3
    try:
        model.save_pretrained(tmp_path)
    finally:
        model.generation_config.max_new_tokens = None
    again = TFAutoModelForCausalLM.from_pretrained(tmp_path)
    assert again.generation_config.max_new_tokens == 3
    assert again.generate(np.array([[5, 6]])).shape == (1, 5)
