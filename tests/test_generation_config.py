"""GenerationConfig (modelport.generation.config) against generation_config.json files transformers 4.57.6 wrote
(tests/golden/data/generation/configs, ``nox -s golden_generation``)."""

from __future__ import annotations

import json
import logging

import pytest

from modelport import GenerationConfig, GPT2Config
from modelport.errors import ConfigError
from modelport.generation.config import FIELDS

from _support.golden import GOLDEN

CONFIGS = GOLDEN / "generation" / "configs"


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.iterdir()))
def test_a_file_transformers_wrote_loads_and_is_written_back_byte_for_byte(name, tmp_path):
    written = (CONFIGS / name / "generation_config.json").read_text()
    config = GenerationConfig.from_pretrained(CONFIGS / name)
    config.save_pretrained(tmp_path)
    assert (tmp_path / "generation_config.json").read_text() == written


def test_values_and_defaults_are_transformers_ones():
    config = GenerationConfig.from_pretrained(CONFIGS / "sampling")
    assert (config.do_sample, config.temperature, config.top_k, config.top_p, config.eos_token_ids) == (True, 0.7, 20, 0.9, [2, 7])
    assert (config.max_length, config.num_beams, config.length_penalty, config.early_stopping) == (20, 1, 1.0, False)
    assert GenerationConfig.from_pretrained(CONFIGS / "extra-field").custom_setting == {"a": [1, 2]}
    assert len(FIELDS) == 65  # transformers 4.57.6's 67 saved keys less _from_model_config and transformers_version


def test_the_model_configs_generation_values_become_a_generation_config_marked_as_such():
    config = GenerationConfig.from_model_config(GPT2Config(bos_token_id=7, eos_token_id=8))
    assert (config.bos_token_id, config.eos_token_id, config.max_length) == (7, 8, 20)
    assert json.loads(config.to_json_string()) == {"_from_model_config": True, "bos_token_id": 7, "eos_token_id": 8}
    assert not hasattr(config, "n_embd")  # a model config's other values are not generation settings


def test_overrides_apply_and_other_keywords_are_kept_as_attributes_as_transformers_does():
    config, unused = GenerationConfig.from_dict({"top_k": 5}, top_k=7, my_flag=1, return_unused_kwargs=True)
    assert config.top_k == 7 and config.my_flag == 1 and unused == {}


@pytest.mark.parametrize(("values", "problem"), [
    ({"early_stopping": "sometimes"}, "early_stopping"),
    ({"max_new_tokens": 0}, "max_new_tokens must be positive"),
    ({"max_new_tokens": "24"}, "max_new_tokens has the wrong type"),
    ({"do_sample": "yes"}, "do_sample has the wrong type"),
    ({"cache_implementation": "magic"}, "unknown cache_implementation"),
    ({"num_return_sequences": 2}, "greedy decoding returns one sequence"),
    ({"num_beams": 2, "num_return_sequences": 3}, "at most num_beams"),
    ({"streamer": object()}, "argument of generate()"),
])
def test_values_no_decoding_can_use_are_refused(values, problem):
    with pytest.raises(ConfigError) as caught:
        GenerationConfig(**values)
    assert problem in str(caught.value)


def test_settings_without_effect_are_warned_about_and_refused_when_saving(caplog, tmp_path):
    with caplog.at_level(logging.WARNING):
        config = GenerationConfig(temperature=0.5)
    assert "temperature=0.5 is used only when sampling" in caplog.text
    with pytest.raises(ConfigError):
        config.save_pretrained(tmp_path)


def test_a_hostile_file_is_refused_naming_it(tmp_path):
    (tmp_path / "generation_config.json").write_text('{"top_k": NaN}')
    with pytest.raises(ConfigError) as caught:
        GenerationConfig.from_pretrained(tmp_path)
    assert "generation_config.json" in str(caught.value)
    (tmp_path / "generation_config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        GenerationConfig.from_pretrained(tmp_path)
