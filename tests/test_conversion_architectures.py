"""The architecture tables (modelport.conversion.architectures) and the by-names plan into PyTorch that uses them.

The tables themselves are checked against transformers 4.57.6 in tests/rescue; here, with numpy alone: every shipped
table loads, each kind of rule does what it says on TF- and Flax-named checkpoints, and bad tables are refused.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import modelport
from modelport.checkpoint import Checkpoint
from modelport.config import PretrainedConfig
from modelport.conversion.architectures import CONFIG_VALUE, VALUE_KINDS, ArchitectureTable, known_model_types, name_rules, table_for
from modelport.conversion.plan import plan_conversion
from modelport.errors import ConversionError
from modelport.saving import save_checkpoint


def _config(model_type: str, architecture: str, **values) -> PretrainedConfig:
    return PretrainedConfig(model_type=model_type, architectures=[architecture], **values)


def test_every_shipped_table_loads_and_names_only_kinds_modelport_makes():
    assert len(known_model_types()) >= 50
    for model_type in known_model_types():
        table = table_for(model_type)
        assert table is not None and table.model_type == model_type and table.classes
        assert table.generated_by.startswith("transformers 4.57.6")
        for entry in table.classes.values():
            assert entry.name and set(entry.rules) <= {"tf", "flax"}
            assert all(rules.kinds <= {*VALUE_KINDS, CONFIG_VALUE} for rules in entry.rules.values())


def test_the_sinusoidal_table_is_sines_then_cosines_of_the_even_and_odd_frequencies():
    table = VALUE_KINDS["sinusoidal_halves"]((5, 6))
    for position in range(5):
        for i in range(3):
            angle = position / 10000 ** (2 * i / 6)  # frequencies 2i/d for both the sine and the cosine column
            assert table[position, i] == pytest.approx(math.sin(angle), abs=1e-7)
            assert table[position, 3 + i] == pytest.approx(math.cos(angle), abs=1e-7)
    odd = VALUE_KINDS["sinusoidal_halves"]((3, 5))  # an odd width: three sines, two cosines
    assert odd.dtype == np.float32 and odd[1, 2] == pytest.approx(math.sin(1 / 10000 ** (4 / 5)), abs=1e-7)
    assert odd[1, 3] == pytest.approx(math.cos(1.0), abs=1e-7)  # odd column j uses the frequency of j - 1
    assert odd[1, 4] == pytest.approx(math.cos(1 / 10000 ** (2 / 5)), abs=1e-7)


def test_a_base_model_drops_the_main_layer_prefix_and_a_head_keeps_it():
    base = name_rules(_config("roberta", "RobertaModel"), "tf")
    head = name_rules(_config("roberta", "RobertaForMaskedLM"), "tf")
    assert base.prefix == "roberta" and head.prefix == ""
    assert base.place("roberta.encoder.layer.0.output.dense.weight").name == "encoder.layer.0.output.dense.weight"


def test_flax_classes_are_paired_with_the_pytorch_class_of_the_same_task():
    table = table_for("bert")  # FlaxBertForCausalLM saves "BertForCausalLM" in architectures
    assert table is not None and table.classes["BertForCausalLM"].name == "BertLMHeadModel"


def test_renames_layouts_and_size_one_axes_of_convbert_apply_to_every_layer():
    shapes = {}
    for layer in (0, 11):
        scope = f"convbert/encoder/layer_._{layer}/attention/self/key_conv_attn_layer"
        shapes |= {f"{scope}/depthwise_kernel:0": (9, 32, 1), f"{scope}/pointwise_kernel:0": (1, 32, 16), f"{scope}/bias:0": (16,)}
    config = _config("convbert", "ConvBertForMaskedLM")
    plan = plan_conversion(shapes, "tf", None, "pt", names=name_rules(config, "tf"), config=config)
    by_target = {step.target: step for step in plan.steps}
    for layer in (0, 11):
        prefix = f"convbert.encoder.layer.{layer}.attention.self.key_conv_attn_layer"
        assert by_target[f"{prefix}.depthwise.weight"].shape == (32, 1, 9)  # PyTorch's Conv1d: (out, in/groups, width)
        assert by_target[f"{prefix}.pointwise.weight"].shape == (16, 32, 1)
        assert by_target[f"{prefix}.bias"].shape == (16, 1)
    assert not plan.unexpected and not plan.missing


def test_a_converted_convbert_kernel_holds_the_transposed_values(tmp_path):
    rng = np.random.default_rng(0)
    depthwise = rng.normal(size=(9, 32, 1)).astype(np.float32)
    scope = "convbert/encoder/layer_._0/attention/self/key_conv_attn_layer"
    save_checkpoint(tmp_path / "tf", [(f"{scope}/depthwise_kernel:0", depthwise), (f"{scope}/bias:0", np.ones(16, np.float32))],
                    format="h5", framework="tf")
    (tmp_path / "tf" / "config.json").write_text(json.dumps({"model_type": "convbert", "architectures": ["ConvBertModel"]}))
    report = modelport.convert(tmp_path / "tf", tmp_path / "pt", to="pt", progress=False)
    out = Checkpoint.open(tmp_path / "pt")
    weight = np.asarray(out["encoder.layer.0.attention.self.key_conv_attn_layer.depthwise.weight"])
    np.testing.assert_array_equal(weight, depthwise.transpose(1, 2, 0))
    assert np.asarray(out["encoder.layer.0.attention.self.key_conv_attn_layer.bias"]).shape == (16, 1)
    assert report.ok and not report.unexpected


def test_batch_norm_counters_are_added_beside_their_running_means(tmp_path):
    rng = np.random.default_rng(1)
    scope = "resnet/embedder/embedder"
    tensors = [(f"{scope}/convolution/kernel:0", rng.normal(size=(7, 7, 3, 8)).astype(np.float32))]
    tensors += [(f"{scope}/normalization/{n}:0", rng.random(8).astype(np.float32))
                for n in ("gamma", "beta", "moving_mean", "moving_variance")]
    save_checkpoint(tmp_path / "tf", tensors, format="h5", framework="tf")
    (tmp_path / "tf" / "config.json").write_text(json.dumps({"model_type": "resnet", "architectures": ["ResNetModel"]}))
    modelport.convert(tmp_path / "tf", tmp_path / "pt", to="pt", progress=False)
    out = Checkpoint.open(tmp_path / "pt")
    counter = np.asarray(out["embedder.embedder.normalization.num_batches_tracked"])
    assert counter.dtype == np.int64 and counter.shape == () and counter == 0
    np.testing.assert_array_equal(np.asarray(out["embedder.embedder.convolution.weight"]), tensors[0][1].transpose(3, 2, 0, 1))


def test_weights_the_source_framework_computes_are_made_with_the_configs_sizes(tmp_path):
    """Flax Marian computes its sinusoidal position tables; PyTorch's class stores them."""
    save_checkpoint(tmp_path / "flax", [("model/shared/embedding", np.ones((99, 32), np.float32))], format="msgpack",
                    framework="flax")
    (tmp_path / "flax" / "config.json").write_text(json.dumps(
        {"model_type": "marian", "architectures": ["MarianMTModel"], "max_position_embeddings": 64, "d_model": 32}))
    report = modelport.convert(tmp_path / "flax", tmp_path / "pt", to="pt", progress=False)
    out = Checkpoint.open(tmp_path / "pt")
    table = np.asarray(out["model.encoder.embed_positions.weight"])
    np.testing.assert_array_equal(table, VALUE_KINDS["sinusoidal_halves"]((64, 32)))
    assert "model.decoder.embed_positions.weight" in out and report.ok


def test_a_head_without_a_pooler_in_pytorch_leaves_the_tf_pooler_out_and_says_why(tmp_path):
    save_checkpoint(tmp_path / "tf", [("mpnet/pooler/dense/kernel:0", np.ones((4, 4), np.float32)),
                                      ("mpnet/pooler/dense/bias:0", np.ones(4, np.float32)),
                                      ("lm_head/bias:0", np.ones(9, np.float32))], format="h5", framework="tf")
    (tmp_path / "tf" / "config.json").write_text(json.dumps({"model_type": "mpnet", "architectures": ["MPNetForMaskedLM"]}))
    report = modelport.convert(tmp_path / "tf", tmp_path / "pt", to="pt", progress=False)
    assert {name for name, _ in report.dropped} == {"mpnet/pooler/dense/kernel:0", "mpnet/pooler/dense/bias:0"}
    assert all("table" in why for _, why in report.dropped) and set(Checkpoint.open(tmp_path / "pt")) == {"lm_head.bias"}


def test_a_head_the_config_already_unties_is_written_even_when_equal(tmp_path):
    embeddings = np.arange(12, dtype=np.float32).reshape(4, 3)
    save_checkpoint(tmp_path / "tf", [("model/embed_tokens/weight:0", embeddings), ("lm_head/kernel:0", embeddings.T.copy())],
                    format="h5", framework="tf")
    (tmp_path / "tf" / "config.json").write_text(json.dumps({"model_type": "xglm", "architectures": ["XGLMForCausalLM"],
                                                             "tie_word_embeddings": False}))
    report = modelport.convert(tmp_path / "tf", tmp_path / "pt", to="pt", progress=False)
    assert set(Checkpoint.open(tmp_path / "pt")) == {"model.embed_tokens.weight", "lm_head.weight"} and not report.dropped


@pytest.mark.parametrize("equal", [True, False])
def test_a_head_pytorch_would_tie_is_left_out_when_equal_and_untied_in_the_config_when_not(tmp_path, equal):
    """TF XGLM keeps lm_head apart from the embeddings; PyTorch ties them while tie_word_embeddings is true."""
    embeddings = np.arange(12, dtype=np.float32).reshape(4, 3)
    head = embeddings.T.copy() if equal else embeddings.T + 1
    save_checkpoint(tmp_path / "tf", [("model/embed_tokens/weight:0", embeddings), ("lm_head/kernel:0", head)],
                    format="h5", framework="tf")
    (tmp_path / "tf" / "config.json").write_text(json.dumps({"model_type": "xglm", "architectures": ["XGLMForCausalLM"],
                                                             "tie_word_embeddings": True}))
    report = modelport.convert(tmp_path / "tf", tmp_path / "pt", to="pt", progress=False)
    out = Checkpoint.open(tmp_path / "pt")
    config = json.loads((tmp_path / "pt" / "config.json").read_text())
    if equal:
        assert set(out) == {"model.embed_tokens.weight"} and config["tie_word_embeddings"] is True
        assert ("lm_head/kernel:0", "a tied copy of model/embed_tokens/weight:0, checked equal") in report.dropped
    else:
        np.testing.assert_array_equal(np.asarray(out["lm_head.weight"]), embeddings + 1)
        assert config["tie_word_embeddings"] is False and report.config_changes


def test_an_unknown_architecture_converts_into_pytorch_by_names_alone(tmp_path):
    save_checkpoint(tmp_path / "tf", [("novel/encoder/dense/kernel:0", np.ones((2, 3), np.float32))], format="h5", framework="tf")
    (tmp_path / "tf" / "config.json").write_text(json.dumps({"model_type": "novel", "architectures": ["NovelModel"]}))
    report = modelport.convert(tmp_path / "tf", tmp_path / "pt", to="pt", progress=False)
    assert report.ok and Checkpoint.open(tmp_path / "pt").info("novel.encoder.dense.weight").shape == (3, 2)


def test_converting_an_unknown_architecture_into_tf_says_it_needs_a_model_class(tmp_path):
    save_checkpoint(tmp_path / "pt-src", [("encoder.dense.weight", np.ones((2, 3), np.float32))])
    (tmp_path / "pt-src" / "config.json").write_text(json.dumps({"model_type": "mpnet", "architectures": ["MPNetModel"]}))
    with pytest.raises(ConversionError) as caught:
        modelport.convert(tmp_path / "pt-src", tmp_path / "tf", to="tf", progress=False)
    assert "no tf model class for model_type 'mpnet'" in str(caught.value) and "--to pt" in str(caught.value)
    assert not (tmp_path / "tf").exists() or not any((tmp_path / "tf").iterdir())


@pytest.mark.parametrize(("document", "problem"), [
    ({"model_type": "x", "classes": {"A": {}}}, "malformed"),
    ({"model_type": "x", "classes": {"A": {"pytorch": "A", "tf": {"renames": [{"match": "(", "to": ""}]}}}}, "malformed"),
    ({"model_type": "x", "classes": {"A": {"pytorch": "A", "flax": {"computed": [{"name": "w", "kind": "secret", "shape": [1],
                                                                                "dtype": "float32"}]}}}}, "value kind"),
    ({"model_type": "x", "classes": {"A": {"pytorch": "A", "tf": {"computed": [{"name": "w", "kind": "config_value", "shape": [],
                                                                              "dtype": "float32"}]}}}}, "names no attribute"),
])
def test_a_malformed_table_is_refused_naming_it(document, problem):
    with pytest.raises(ConversionError) as caught:
        ArchitectureTable.from_json(document, where="x.json")
    assert problem in str(caught.value) and "x.json" in str(caught.value)


def _dual_encoder(folder, **config):
    save_checkpoint(folder, [("visual_projection/kernel:0", np.ones((4, 3), np.float32))], format="h5", framework="tf")
    (folder / "config.json").write_text(json.dumps({"model_type": "vision-text-dual-encoder",
                                                    "architectures": ["VisionTextDualEncoderModel"], **config}))


def test_a_weight_tf_never_saves_is_made_from_the_config_value_it_reloads_with(tmp_path):
    """transformers' TF VisionTextDualEncoderModel leaves logit_scale out of tf_model.h5; reloaded, it holds the
    config's logit_scale_init_value, and so does the PyTorch result."""
    _dual_encoder(tmp_path / "tf", logit_scale_init_value=2.6592)
    report = modelport.convert(tmp_path / "tf", tmp_path / "pt", to="pt", progress=False)
    scale = np.asarray(Checkpoint.open(tmp_path / "pt")["logit_scale"])
    assert report.ok and scale.shape == () and scale.dtype == np.float32 and scale == np.float32(2.6592)


@pytest.mark.parametrize("value", [None, "2.6", True, [2.6]])  # NaN never gets this far: config.json refuses it
def test_a_config_value_that_is_absent_or_not_a_number_is_refused_naming_the_attribute(tmp_path, value):
    _dual_encoder(tmp_path / "tf", **({} if value is None else {"logit_scale_init_value": value}))
    with pytest.raises(ConversionError) as caught:
        modelport.convert(tmp_path / "tf", tmp_path / "pt", to="pt", progress=False)
    assert "logit_scale_init_value" in str(caught.value) and "config.json" in str(caught.value)
    assert not (tmp_path / "pt" / "model.safetensors").exists()


def test_a_computed_weight_whose_size_the_config_lacks_is_refused(tmp_path):
    save_checkpoint(tmp_path / "flax", [("model/shared/embedding", np.ones((9, 4), np.float32))], format="msgpack", framework="flax")
    (tmp_path / "flax" / "config.json").write_text(json.dumps({"model_type": "marian", "architectures": ["MarianMTModel"],
                                                               "d_model": 4}))
    with pytest.raises(ConversionError) as caught:
        modelport.convert(tmp_path / "flax", tmp_path / "pt", to="pt", progress=False)
    assert "max_position_embeddings" in str(caught.value)


def test_a_config_that_sizes_a_computed_weight_absurdly_is_refused_before_anything_is_made(tmp_path):
    save_checkpoint(tmp_path / "flax", [("model/shared/embedding", np.ones((9, 4), np.float32))], format="msgpack", framework="flax")
    (tmp_path / "flax" / "config.json").write_text(json.dumps({"model_type": "marian", "architectures": ["MarianMTModel"],
                                                               "d_model": 4096, "max_position_embeddings": 2**40}))
    with pytest.raises(ConversionError) as caught:
        modelport.convert(tmp_path / "flax", tmp_path / "pt", to="pt", progress=False)
    assert "absurdly large" in str(caught.value) and not (tmp_path / "pt" / "model.safetensors").exists()


@pytest.mark.parametrize(("source", "name"), [("tf-h5", "tf_model.h5"), ("flax-msgpack", "flax_model.msgpack")])
@pytest.mark.parametrize("keep", [0.3, 0.97])
def test_a_damaged_source_of_an_unimplemented_architecture_is_refused_and_leaves_no_weights(tmp_path, source, name, keep):
    from _support.golden import GOLDEN

    folder = tmp_path / "src"
    folder.mkdir()
    data = (GOLDEN / "bert" / source / name).read_bytes()
    (folder / name).write_bytes(data[: int(len(data) * keep)])
    config = json.loads((GOLDEN / "bert" / source / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "roberta", "architectures": ["RobertaModel"]}))
    with pytest.raises(modelport.ModelportError) as caught:
        modelport.convert(folder, tmp_path / "pt", to="pt", progress=False)
    assert name in str(caught.value)
    leftovers = [p.name for p in (tmp_path / "pt").iterdir()] if (tmp_path / "pt").exists() else []
    assert not [n for n in leftovers if n.endswith((".safetensors", ".json")) and n != "config.json"], leftovers


def test_a_computed_size_may_be_a_quotient_of_two_config_values():
    from modelport.conversion.architectures import Computed

    table = Computed("roformer.encoder.embed_positions.weight", "sinusoidal_halves",
                     ("max_position_embeddings", "hidden_size/num_attention_heads"), "float32")
    config = PretrainedConfig(max_position_embeddings=512, hidden_size=768, num_attention_heads=12)
    assert table.resolved_shape(config) == (512, 64)
    with pytest.raises(ConversionError):
        table.resolved_shape(PretrainedConfig(max_position_embeddings=512, hidden_size=768, num_attention_heads=7))


def test_a_tensor_of_another_rank_than_its_tables_layout_is_refused_naming_it():
    shapes = {"convbert/encoder/layer_._0/attention/self/key_conv_attn_layer/depthwise_kernel:0": (9, 32)}
    config = _config("convbert", "ConvBertForMaskedLM")
    with pytest.raises(ConversionError) as caught:
        plan_conversion(shapes, "tf", None, "pt", names=name_rules(config, "tf"), config=config)
    assert "depthwise_kernel" in str(caught.value) and "another rank" in str(caught.value)


def test_a_stored_counter_is_kept_and_not_added_twice():
    shapes = {"resnet/embedder/embedder/normalization/moving_mean:0": (8,),
              "resnet/embedder/embedder/normalization/num_batches_tracked:0": ()}
    config = _config("resnet", "ResNetModel")
    plan = plan_conversion(shapes, "tf", None, "pt", names=name_rules(config, "tf"), config=config)
    targets = [step.target for step in plan.steps]
    assert targets.count("embedder.embedder.normalization.num_batches_tracked") == 1
    assert not any(step.made for step in plan.steps)
