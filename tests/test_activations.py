"""Every activation a config may name is built by every adapter, and equals the core's numpy reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modelport import AutoConfig, adapters
from modelport.activations import ACTIVATIONS, NUMPY_OPS, activation_table
from modelport.errors import ConfigError

X = np.linspace(-12.0, 12.0, 97, dtype=np.float32)
TOLERANCE = 2e-6  # float32 against float64, on values up to 12


def _activation(adapter_name: str):
    if adapter_name not in adapters.available() or not adapters.get(adapter_name).framework_available():
        pytest.skip(f"the {adapter_name} adapter is not installed")
    module = {"torch": "modelport_torch.modeling", "tf": "modelport_tf.layers", "flax": "modelport_flax.modeling"}[adapter_name]
    return __import__(module, fromlist=["activation"]).activation


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("adapter_name", ["torch", "tf", "flax"])
def test_every_named_activation_matches_the_reference(adapter_name, name):
    adapter = adapters.get(adapter_name) if adapter_name in adapters.available() else None
    function = _activation(adapter_name)(name)
    got = adapter.to_numpy(function(adapter.from_numpy(X)))
    reference = activation_table(NUMPY_OPS)[name](X.astype(np.float64))
    scale = np.maximum(1.0, np.abs(reference))
    assert np.max(np.abs(got.astype(np.float64) - reference) / scale) <= TOLERANCE


@pytest.mark.parametrize("adapter_name", ["torch", "tf", "flax"])
def test_an_unknown_activation_is_a_config_error(adapter_name):
    with pytest.raises(ConfigError, match="unknown activation"):
        _activation(adapter_name)("gelu_new_and_improved")


@pytest.mark.parametrize("name,known", [("gelu_fast", True), ("gelu_new_and_improved", False)])
def test_config_files_name_exactly_the_activations_the_adapters_build(tmp_path, name, known):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_act": name}))
    if known:
        assert AutoConfig.from_pretrained(tmp_path).hidden_act == name
    else:
        with pytest.raises(ConfigError, match="not a known activation"):
            AutoConfig.from_pretrained(tmp_path)
