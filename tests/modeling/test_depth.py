"""Trees of deep models built at two layers and extended equal the full build: names, shapes and order."""

from __future__ import annotations

import pytest

from modelport import adapters
from modelport.modeling.depth import BUILT_LAYERS, tree_at_depth

from _support.architectures import CONFIGS, architectures


@pytest.mark.parametrize("adapter_name,architecture,model_type", list(architectures()))
@pytest.mark.parametrize("depth", [3, 12])
def test_the_extended_tree_equals_the_full_build(adapter_name, architecture, model_type, depth):
    adapter = adapters.get(adapter_name)
    config = CONFIGS[model_type](depth)
    config.architectures = [architecture]
    model_class = adapter.model_class(config)
    full = adapter.model_tree(model_class, config).with_config_facts(config)
    extended = adapter.parameter_tree(config)
    assert list(extended.shapes.items()) == list(full.shapes.items())  # names, shapes and order
    assert (extended.tied, extended.base_model_prefix, extended.model_class) == (full.tied, full.base_model_prefix, full.model_class)


def test_shallow_models_are_built_as_they_are():
    built = []
    config = CONFIGS["bert"](BUILT_LAYERS)
    tree_at_depth(config, "pt", lambda c: built.append(c.num_hidden_layers))
    assert built == [BUILT_LAYERS]


def test_the_build_sees_two_layers_and_the_config_is_left_alone():
    from modelport.adapters.base import ParameterTree

    seen = []

    def build(c):
        seen.append(c.n_layer)
        return ParameterTree("tf", {"m/wte/weight:0": (4, 2), "m/h_._0/a/kernel:0": (2, 2), "m/h_._1/a/kernel:0": (2, 2),
                                    "m/h_._1/b/bias:0": (1, 2), "m/ln_f/gamma:0": (2,)})

    config = CONFIGS["gpt2"](4)
    tree = tree_at_depth(config, "tf", build)
    assert seen == [2] and config.n_layer == 4
    assert list(tree.shapes) == ["m/wte/weight:0", "m/h_._0/a/kernel:0", "m/h_._1/a/kernel:0", "m/h_._1/b/bias:0",
                                 "m/h_._2/a/kernel:0", "m/h_._2/b/bias:0", "m/h_._3/a/kernel:0", "m/h_._3/b/bias:0", "m/ln_f/gamma:0"]
