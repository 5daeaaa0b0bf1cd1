"""Llama, Mistral, Qwen2 and Gemma configs against what transformers 4.57.6 made of the same arguments.

The golden file is written by ``tests/golden/make_config_golden.py`` in the golden environment.
"""

from __future__ import annotations

import json
import logging

import pytest

from modelport import AutoConfig, GemmaConfig, LlamaConfig, MistralConfig, Qwen2Config
from modelport.errors import ConfigError

from _support.golden import GOLDEN

CASES = json.loads((GOLDEN / "configs" / "llama-family.json").read_text())["cases"]
IDS = [f"{case['model_type']}-{i}" for i, case in enumerate(CASES)]


def _without_version(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != "transformers_version"}  # modelport does not claim to be transformers


def _as_json(values: dict) -> dict:
    return json.loads(json.dumps(values))  # the golden file went through JSON: id2label's int keys became strings


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_same_arguments_give_transformers_values(case):
    config = AutoConfig.for_model(case["model_type"], **case["kwargs"])
    assert _as_json(config.to_dict()) == _without_version(case["to_dict"])
    assert _as_json(config.to_diff_dict()) == _without_version(case["to_diff_dict"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_transformers_config_json_resaves_byte_identical(case, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "config.json").write_text(case["config_json"])
    config = AutoConfig.from_pretrained(tmp_path / "in")
    assert type(config).model_type == case["model_type"]
    config.save_pretrained(tmp_path / "out")
    assert (tmp_path / "out" / "config.json").read_text() == case["config_json"]


def test_the_defaults_of_each_family():
    llama, mistral, qwen2, gemma = LlamaConfig(), MistralConfig(), Qwen2Config(), GemmaConfig()
    assert (llama.num_key_value_heads, llama.head_dim, llama.tie_word_embeddings) == (32, 128, False)
    assert (mistral.num_key_value_heads, mistral.head_dim, mistral.sliding_window) == (8, None, 4096)
    assert (qwen2.sliding_window, qwen2.layer_types) == (None, ["full_attention"] * 32)
    assert (gemma.tie_word_embeddings, gemma.pad_token_id, gemma.head_dim) == (True, 0, 256)


def test_a_legacy_rope_type_key_is_copied_without_touching_the_callers_dict():
    scaling = {"type": "linear", "factor": 2.0}
    config = LlamaConfig(rope_scaling=scaling)
    assert config.rope_scaling == {"type": "linear", "factor": 2.0, "rope_type": "linear"}
    assert scaling == {"type": "linear", "factor": 2.0}


def test_a_rope_scaling_without_its_required_keys_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        LlamaConfig(rope_scaling={"rope_type": "llama3", "factor": 8.0})
    message = str(info.value)
    assert "llama3" in message and "high_freq_factor" in message and "original_max_position_embeddings" in message


def test_unknown_rope_keys_and_types_are_warnings(caplog):
    with caplog.at_level(logging.WARNING, logger="modelport"):
        LlamaConfig(rope_scaling={"rope_type": "linear", "factor": 2.0, "extra": 1})
        LlamaConfig(rope_scaling={"rope_type": "future-kind", "factor": 2.0})
        LlamaConfig(rope_scaling={"rope_type": "linear", "factor": 0.5})
    assert "extra" in caplog.text and "future-kind" in caplog.text and "0.5" in caplog.text


@pytest.mark.parametrize("layer_types, problem", [(["full_attention"], "one entry per layer"),
                                                  (["full_attention", "banded"], "unknown layer_types")])
def test_qwen2_layer_types_are_checked(layer_types, problem):
    with pytest.raises(ConfigError, match=problem):
        Qwen2Config(num_hidden_layers=2, layer_types=layer_types)
