"""The logits processors (modelport.generation.processors) with numpy's operations, against transformers 4.57.6's
on fixed score arrays (tests/golden/data/generation/processors.npz). The adapters run the same cases with theirs."""

from __future__ import annotations

import numpy as np
import pytest

from modelport import GenerationConfig
from modelport.errors import ConfigError
from modelport.generation import processors as p

from _support.generation import PROCESSOR_RTOL, PROCESSORS, processor_golden, through_chain


@pytest.fixture(scope="module")
def golden():
    return processor_golden()


def _run(processors, ids, scores, length=None):
    for processor in processors:
        scores = processor(ids, scores, ids.shape[-1] if length is None else length, p.NUMPY_OPS)
    return scores


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_each_processor_equals_transformers_on_fixed_scores(golden, name):
    """Exact where transformers is exact (-inf where it bans, the same kept scores); 1e-6 relative for divisions."""
    got = _run([PROCESSORS[name]], golden["ids"], golden["scores"].copy())
    np.testing.assert_allclose(got, golden[name], rtol=PROCESSOR_RTOL, atol=0)
    assert np.array_equal(np.isneginf(got), np.isneginf(golden[name]))


def test_the_chain_equals_transformers(golden):
    got = through_chain(golden["ids"], golden["scores"].copy(), p.NUMPY_OPS)
    np.testing.assert_allclose(got, golden["chain"], rtol=PROCESSOR_RTOL, atol=0)


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_a_fixed_size_buffer_with_unwritten_columns_gives_the_same_scores(golden, name):
    """JAX and TF decode into one buffer of the final size: columns past the length must not count."""
    ids = golden["ids"]
    buffer = np.concatenate([ids, np.full((2, 6), 4, ids.dtype)], axis=1)  # 4: a token the rows may not hold
    got = _run([PROCESSORS[name]], buffer, golden["scores"].copy(), length=ids.shape[-1])
    np.testing.assert_allclose(got, golden[name], rtol=PROCESSOR_RTOL, atol=0)


def test_the_config_selects_transformers_processors_in_its_order():
    config = GenerationConfig(do_sample=True, temperature=0.5, top_k=7, top_p=0.9, repetition_penalty=1.1,
                              no_repeat_ngram_size=3, min_new_tokens=2, eos_token_id=[2, 3])
    chosen = p.logits_processors(config, prompt_length=5)
    assert chosen == [p.RepetitionPenalty(1.1), p.NoRepeatNGram(3), p.MinLength(2, (2, 3), start=5), p.Temperature(0.5),
                      p.TopK(7), p.TopP(0.9)]
    assert p.logits_processors(GenerationConfig(), prompt_length=5) == []  # greedy: no warper


def test_beam_sampling_keeps_one_more_token_than_there_are_eos_ids():
    config = GenerationConfig(do_sample=True, num_beams=2, top_k=1, eos_token_id=[2, 3])
    assert p.logits_processors(config, prompt_length=1)[-1] == p.TopK(1, 3)


@pytest.mark.parametrize("values", [{"typical_p": 0.5, "do_sample": True}, {"bad_words_ids": [[1]]}, {"suppress_tokens": [3]}])
def test_settings_generate_does_not_implement_are_refused_by_name(values):
    with pytest.raises(ConfigError) as caught:
        p.logits_processors(GenerationConfig(**values), prompt_length=1)
    assert next(iter(values)) in str(caught.value)


@pytest.mark.parametrize("values", [{"do_sample": True, "temperature": 0.0}, {"repetition_penalty": -1.0}])
def test_values_that_would_divide_by_zero_or_flip_signs_are_refused(values):
    with pytest.raises(ConfigError):
        p.logits_processors(GenerationConfig(**values), prompt_length=1)
