"""Partition rules: the defaults as data, logical axes resolved per mesh, and specs moved into each framework's layout."""

from __future__ import annotations

import pytest

from modelport.distributed import FSDP, TP, default_rules, resolve_spec, spec_for
from modelport.errors import ConfigError

MESH = {"data": 2, "model": 4}


def test_logical_axes_become_the_meshs_and_uneven_splits_stay_whole():
    assert resolve_spec((TP, None), (64, 24), MESH) == ("model", None)
    assert resolve_spec((FSDP,), (64, 24), MESH) == (("data", "model"), None)
    assert resolve_spec((FSDP,), (12, 24), MESH) == (None, None)  # 12 does not split over 8 devices
    assert resolve_spec((TP,), (50257,), MESH) == (None,)
    assert resolve_spec((), (8, 8, 8), MESH) == (None, None, None)
    assert resolve_spec((FSDP,), (16,), {"x": 8}) == ("x",)


def test_llama_tensor_parallel_pairs_column_and_row_splits_in_pytorchs_layout():
    rules = default_rules("llama", "tp")
    assert spec_for(rules, "llama", "model.layers.0.self_attn.q_proj.weight", "pt", (32, 32), MESH) == ("model", None)
    assert spec_for(rules, "llama", "model.layers.0.self_attn.o_proj.weight", "pt", (32, 32), MESH) == (None, "model")
    assert spec_for(rules, "llama", "model.layers.0.mlp.down_proj.weight", "pt", (32, 64), MESH) == (None, "model")
    assert spec_for(rules, "llama", "model.norm.weight", "pt", (32,), MESH) == (None,)


def test_a_flax_kernel_gets_the_pytorch_spec_transposed():
    # Flax's Dense kernel is [in, out]: the column split of q_proj is on its second axis
    path = "model/layers/0/self_attn/q_proj/kernel"
    assert spec_for("tp", "llama", path, "flax", (32, 32), MESH) == (None, "model")
    assert spec_for("tp", "llama", "model/layers/0/self_attn/o_proj/kernel", "flax", (32, 32), MESH) == ("model", None)
    assert spec_for("tp", "llama", "model/embed_tokens/embedding", "flax", (64, 32), MESH) == ("model", None)


def test_a_tf_row_bias_keeps_the_split_on_its_long_axis():
    name = "tf_bert_model/bert/encoder/layer_._0/intermediate/dense/bias:0"
    assert spec_for("tp", "bert", name, "tf", (1, 64), MESH) == (None, "model")


def test_fsdp_fits_every_architecture_and_splits_pytorchs_first_axis():
    assert spec_for("fsdp", "t5", "encoder/block/0/layer/0/SelfAttention/q/kernel", "flax", (32, 16), MESH) == (None, ("data", "model"))
    assert spec_for("fsdp", "vit", "vit.embeddings.cls_token", "pt", (1, 1, 32), MESH) == (None, None, None)


def test_user_rules_are_over_the_frameworks_own_names_and_first_match_wins():
    rules = [(r"q_proj/kernel$", (None, "model")), (r"kernel$", ("data", None))]
    assert spec_for(rules, "llama", "model/layers/0/self_attn/q_proj/kernel", "flax", (32, 32), MESH) == (None, "model")
    assert spec_for(rules, "llama", "model/layers/0/self_attn/k_proj/kernel", "flax", (32, 32), MESH) == ("data", None)
    assert spec_for(rules, "llama", "model/norm/weight", "flax", (32,), MESH) == (None,)
    called = []

    def by_shape(path, shape):
        called.append((path, shape))
        return ("model",) if len(shape) == 2 else None

    assert spec_for(by_shape, "llama", "a/kernel", "flax", (8, 4), MESH) == ("model", None)
    assert spec_for(by_shape, "llama", "a/bias", "flax", (8,), MESH) == (None,)
    assert called == [("a/kernel", (8, 4)), ("a/bias", (8,))]


def test_an_unknown_style_names_the_known_ones():
    with pytest.raises(ConfigError, match="no default 'tp' partition rules") as raised:
        default_rules("t5", "tp")
    assert "fsdp" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        default_rules("llama", "pipeline")
    assert "'fsdp'" in str(raised.value) and "'tp'" in str(raised.value)


def test_an_axis_the_mesh_lacks_is_named_in_the_error():
    with pytest.raises(ConfigError, match="does not have") as raised:
        spec_for([(r"kernel$", ("tensor", None))], "llama", "a/kernel", "flax", (8, 8), MESH)
    assert "'tensor'" in str(raised.value) and "'model'" in str(raised.value)
