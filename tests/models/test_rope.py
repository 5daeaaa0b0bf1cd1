"""The core's rotary frequencies against transformers 4.57.6's, for every scaling type (golden ``rope.npz``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modelport import LlamaConfig
from modelport.errors import ConfigError
from modelport.models.rope import rope_parameters

from _support.golden import GOLDEN

FOLDER = GOLDEN / "llama-family"
CASES = json.loads((FOLDER / "manifest.json").read_text())["rope"]
EXPECTED = dict(np.load(FOLDER / "rope.npz"))


@pytest.mark.parametrize("key", list(CASES))
def test_inverse_frequencies_and_factor_equal_transformers(key):
    case = CASES[key]
    inv_freq, factor = rope_parameters(LlamaConfig(**case["config"]), case["seq_len"])
    assert inv_freq.dtype == np.float32 and inv_freq.shape == EXPECTED[key].shape
    np.testing.assert_allclose(inv_freq, EXPECTED[key], rtol=1e-6, atol=0)  # float32: at most a few ulps apart
    assert factor == pytest.approx(case["attention_factor"], rel=1e-12)


def test_dynamic_scaling_changes_only_beyond_the_context():
    config = LlamaConfig(hidden_size=32, num_attention_heads=4, max_position_embeddings=64,
                         rope_scaling={"rope_type": "dynamic", "factor": 2.0})
    inside, _ = rope_parameters(config, 64)
    beyond, _ = rope_parameters(config, 128)
    np.testing.assert_array_equal(inside, rope_parameters(LlamaConfig(hidden_size=32, num_attention_heads=4))[0])
    assert np.all(beyond[1:] < inside[1:]) and beyond[0] == inside[0] == 1


def test_a_scaling_that_is_validated_but_not_computed_is_refused_by_name():
    config = LlamaConfig(hidden_size=32, num_attention_heads=4,
                         rope_scaling={"rope_type": "longrope", "short_factor": [1.0] * 4, "long_factor": [2.0] * 4})
    with pytest.raises(ConfigError, match="longrope"):
        rope_parameters(config)
