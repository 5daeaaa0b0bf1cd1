"""What a generate() call will do (modelport.generation.plan), decided in the core for every framework."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from modelport import GenerationConfig
from modelport.errors import ConfigError, UnsupportedKeywordError
from modelport.generation import processors as p
from modelport.generation.plan import loop_settings, mask_from_padding, plan_decoding


def _plan(prompt: int = 5, default: GenerationConfig | None = None, **keywords):
    return plan_decoding(default or GenerationConfig(eos_token_id=2), None, prompt, keywords, "M")


def test_keywords_override_the_models_settings_and_max_new_tokens_counts_from_the_prompt():
    plan = _plan(7, GenerationConfig(eos_token_id=[2, 3], pad_token_id=0, max_length=50), max_new_tokens=4, do_sample=True,
                 top_k=3)
    assert (plan.max_length, plan.new_tokens, plan.mode, plan.eos_token_ids, plan.pad_token_id) == (11, 4, "sample", (2, 3), 0)
    assert plan.processors == (p.TopK(3),)
    assert _plan(7).max_length == 20 and _plan(num_beams=3).mode == "beam"


def test_an_unset_pad_token_falls_back_to_the_first_end_token_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert _plan(default=GenerationConfig(eos_token_id=[4, 5])).pad_token_id == 4
    assert "pad_token_id is not set" in caplog.text


@pytest.mark.parametrize(("keywords", "error", "problem"), [
    ({"max_length": 5}, ConfigError, "nothing would be generated"),
    ({"logits_processor": []}, UnsupportedKeywordError, "logits_processor"),
    ({"num_beams": 2, "do_sample": True}, ConfigError, "sampled or grouped beams"),
    ({"return_dict_in_generate": True, "output_attentions": True}, ConfigError, "output_attentions"),
    ({"return_dict_in_generate": True, "output_logits": True}, ConfigError, "output_logits"),
])
def test_what_no_decoding_here_can_do_is_refused_by_name(keywords, error, problem):
    with pytest.raises(error) as caught:
        _plan(**keywords)
    assert problem in str(caught.value)


def test_the_compiled_loops_settings_are_hashable_and_equal_for_equal_calls():
    first, second = (loop_settings(_plan(num_beams=2, length_penalty=0.5), vocab=64) for _ in range(2))
    assert first == second and hash(first) == hash(second) and first.beams == 2 and first.length_penalty == 0.5


def test_a_missing_mask_masks_pad_tokens_only_when_the_pad_token_is_set_and_is_no_end_token():
    ids = np.array([[0, 0, 5, 6]])
    assert mask_from_padding(ids, _plan(default=GenerationConfig(pad_token_id=0, eos_token_id=2))).tolist() == [[0, 0, 1, 1]]
    assert mask_from_padding(ids, _plan(default=GenerationConfig(pad_token_id=0, eos_token_id=0))).tolist() == [[1, 1, 1, 1]]
    assert mask_from_padding(ids, _plan(default=GenerationConfig(eos_token_id=0))).tolist() == [[1, 1, 1, 1]]
