"""PyTorch generate() (modelport_torch.generation) against transformers 4.57.6's generate on every golden GPT-2 and
Llama-family checkpoint (tests/golden/make_generation_golden.py), and the key/value cache against recomputation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from modelport import GenerationConfig
from modelport.errors import ConfigError, UnsupportedKeywordError
from modelport_torch import AutoModelForCausalLM
from modelport_torch.generation import TORCH_OPS, KeyValueCache

from _support.generation import (
    GENERATIONS,
    NEW_TOKENS,
    PROCESSOR_RTOL,
    PROCESSORS,
    SEARCHES,
    model_loader,
    processor_golden,
    sequences,
    through_chain,
)

SCORE_TOLERANCE = 1e-5  # step scores and beam scores: the same float32 operations, in another order


@pytest.fixture(scope="module")
def models():
    return model_loader(AutoModelForCausalLM)


def _prompt(golden):
    return torch.from_numpy(golden["input_ids"]), torch.from_numpy(golden["attention_mask"])


@pytest.mark.parametrize(("checkpoint", "search"), GENERATIONS)
def test_token_ids_equal_transformers_generate(models, checkpoint, search):
    """Left-padded batch of 2, 24 new tokens; greedy, beam search (3 beams, 2 returned; 4 beams, early stopping, length
    penalty 0.7) and greedy with repetition penalty, no-repeat n-grams and min_new_tokens."""
    golden = sequences(checkpoint)
    ids, mask = _prompt(golden)
    out = models(checkpoint).generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, pad_token_id=0,
                                      return_dict_in_generate=True, output_scores=True, **SEARCHES[search])
    np.testing.assert_array_equal(out.sequences.numpy(), golden[f"{search}/sequences"])
    if search == "greedy":
        scores = torch.stack(out.scores, 1).numpy()
        np.testing.assert_allclose(scores, golden["greedy/scores"], atol=SCORE_TOLERANCE, rtol=0)
    if "beam" in search:
        np.testing.assert_allclose(out.sequences_scores.numpy(), golden[f"{search}/sequences_scores"], atol=SCORE_TOLERANCE, rtol=0)


@pytest.mark.parametrize("checkpoint", ["gpt2", "llama", "mistral", "qwen2", "gemma"])
def test_logits_with_the_cache_equal_a_full_recomputation_step_by_step(models, checkpoint):
    """32 steps (GPT-2: up to its 32 positions) on the left-padded batch; Mistral and Qwen2 slide a 4-token window."""
    model = models(checkpoint)
    ids, mask = _prompt(sequences(checkpoint))
    steps = min(32, getattr(model.config, "n_positions", 64) - ids.shape[1])
    cache = KeyValueCache()
    worst = 0.0
    with torch.no_grad():
        for step in range(steps):
            positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
            new = slice(-1, None) if step else slice(None)
            cached = model(ids[:, new], attention_mask=mask, position_ids=positions[:, new], past_key_values=cache,
                           use_cache=True).logits[:, -1]
            full = model(ids, attention_mask=mask, position_ids=positions).logits[:, -1]
            worst = max(worst, float((cached - full).abs().max()))
            ids = torch.cat([ids, full.argmax(-1, keepdim=True)], 1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
    assert cache.length == ids.shape[1] - 1 and worst <= 1e-5, worst


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_each_processor_with_torch_ops_equals_transformers(name):
    golden = processor_golden()
    got = PROCESSORS[name](torch.from_numpy(golden["ids"]), torch.from_numpy(golden["scores"]), golden["ids"].shape[1], TORCH_OPS)
    np.testing.assert_allclose(got.numpy(), golden[name], rtol=PROCESSOR_RTOL, atol=0)


def test_the_processor_chain_with_torch_ops_equals_transformers():
    golden = processor_golden()
    scores = through_chain(torch.from_numpy(golden["ids"]), torch.from_numpy(golden["scores"]), TORCH_OPS)
    np.testing.assert_allclose(scores.numpy(), golden["chain"], rtol=PROCESSOR_RTOL, atol=0)


def test_top_k_1_sampling_is_greedy_and_a_seeded_sample_repeats(models):
    model = models("llama")
    ids, mask = _prompt(sequences("llama"))
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=12, pad_token_id=0)
    top1 = model.generate(ids, attention_mask=mask, max_new_tokens=12, pad_token_id=0, do_sample=True, top_k=1)
    assert torch.equal(greedy, top1)

    def sample(seed: int) -> torch.Tensor:
        return model.generate(ids, attention_mask=mask, max_new_tokens=12, pad_token_id=0, do_sample=True, temperature=1.5,
                              top_p=0.95, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(sample(3), sample(3)) and not torch.equal(sample(3), sample(4))


def test_stopping_at_one_of_several_eos_ids_pads_the_finished_row_while_the_other_goes_on(models):
    model = models("llama")
    ids, mask = _prompt(sequences("llama"))
    free = model.generate(ids, attention_mask=mask, max_new_tokens=10, pad_token_id=0)[:, ids.shape[1]:].tolist()
    at = next(i for i in range(1, 10) if free[1][i] not in free[1][:i] + free[0])  # ends row 1 only
    out = model.generate(ids, attention_mask=mask, max_new_tokens=10, pad_token_id=0, eos_token_id=[free[1][at], 63])
    rows = out[:, ids.shape[1]:].tolist()
    assert rows[1][:at + 1] == free[1][:at + 1] and rows[1][at + 1:] == [0] * (9 - at) and rows[0] == free[0]


def test_a_streamer_gets_the_prompt_then_each_token_then_the_end(models):
    class Recorder:
        def __init__(self):
            self.chunks, self.ended = [], False

        def put(self, value):
            self.chunks.append(value.clone())

        def end(self):
            self.ended = True

    model = models("gpt2")
    ids = torch.tensor([[5, 6, 7]])
    recorder = Recorder()
    out = model.generate(ids, max_new_tokens=5, streamer=recorder)
    assert recorder.ended and torch.equal(recorder.chunks[0], ids)
    assert torch.equal(torch.cat([c.reshape(1, -1) for c in recorder.chunks], 1), out)


def test_generation_config_json_is_loaded_saved_and_overridden(tmp_path, models):
    model = models("llama")
    assert model.can_generate() and model.generation_config.eos_token_id == 2
    model.generation_config.max_new_tokens = 3
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "generation_config.json").read_text())["max_new_tokens"] == 3
    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert again.generate(torch.tensor([[5, 6]])).shape == (1, 5)
    given = AutoModelForCausalLM.from_pretrained(tmp_path, generation_config=GenerationConfig(max_new_tokens=1))
    assert given.generate(torch.tensor([[5, 6]])).shape == (1, 3)
    model.generation_config.max_new_tokens = None


@pytest.mark.parametrize("keyword", ["max_tokens", "logits_processor", "prng_key", "stopping_criteria"])
def test_a_keyword_that_is_not_a_setting_is_refused_by_name_never_ignored(models, keyword):
    with pytest.raises(UnsupportedKeywordError, match=keyword):
        models("gpt2").generate(torch.tensor([[1, 2]]), **{keyword: 4})


def test_scores_are_kept_only_when_asked_and_a_streamer_with_beams_is_refused(models):
    model = models("gpt2")
    plain = model.generate(torch.tensor([[1, 2]]), max_new_tokens=3, return_dict_in_generate=True)
    assert plain.scores is None and plain.logits is None
    with pytest.raises(ConfigError, match="beam search"):
        model.generate(torch.tensor([[1, 2]]), max_new_tokens=3, num_beams=2, streamer=object())
