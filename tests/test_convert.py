"""Conversion: the plan on fake trees, names-only conversion to PyTorch with numpy alone, and reports."""

from __future__ import annotations

import numpy as np
import pytest

import modelport
from modelport.adapters import ParameterTree
from modelport.checkpoint import Checkpoint
from modelport.conversion.plan import plan_conversion, redundancy_failures
from modelport.errors import ConversionError
from modelport.saving import save_checkpoint

from _support.golden import ARCHS

TREE = ParameterTree("flax", {"bert/embeddings/word_embeddings/embedding": (10, 4), "bert/pooler/dense/kernel": (4, 4),
                              "bert/pooler/dense/bias": (4,)}, "bert", "FlaxBertModel")


def test_plan_pairs_by_canonical_name_and_adds_the_base_prefix():
    source = {"embeddings.word_embeddings.weight": (10, 4), "pooler.dense.weight": (4, 4), "pooler.dense.bias": (4,)}
    plan = plan_conversion(source, "pt", TREE, "flax")
    assert {(s.source, s.target) for s in plan.steps} == {
        ("embeddings.word_embeddings.weight", "bert/embeddings/word_embeddings/embedding"),
        ("pooler.dense.weight", "bert/pooler/dense/kernel"), ("pooler.dense.bias", "bert/pooler/dense/bias")}
    assert plan.missing == plan.unexpected == plan.mismatched == []


def test_plan_reports_missing_unexpected_and_mismatched_by_name():
    source = {"embeddings.word_embeddings.weight": (12, 4), "pooler.dense.weight": (4, 4), "extra.weight": (3,),
              "cls.predictions.decoder.weight": (10, 4)}  # a head the bare model has no place for
    plan = plan_conversion(source, "pt", TREE, "flax")
    assert plan.missing == ["bert/pooler/dense/bias"]
    assert plan.unexpected == ["extra.weight", "cls.predictions.decoder.weight"]
    assert plan.mismatched == [("bert/embeddings/word_embeddings/embedding", (12, 4), (10, 4))]
    assert [s.source for s in plan.steps] == ["pooler.dense.weight"]


LM_TREE = ParameterTree("flax", {"transformer/wte/embedding": (10, 4), "transformer/ln_f/scale": (4,)}, "transformer",
                        "FlaxGPT2LMHeadModel", tied={"lm_head.weight": "transformer.wte.weight"}, model_type="gpt2")


def test_a_stored_tied_copy_is_left_out_only_after_a_check():
    source = {"transformer.wte.weight": (10, 4), "transformer.ln_f.weight": (4,), "lm_head.weight": (10, 4)}
    plan = plan_conversion(source, "pt", LM_TREE, "flax")
    assert [s.source for s in plan.steps] == ["transformer.wte.weight", "transformer.ln_f.weight"]
    assert [(c.source, c.kind, c.other) for c in plan.checks] == [("lm_head.weight", "tied", "transformer.wte.weight")]
    assert plan.unexpected == plan.missing == []
    aliased = plan_conversion(source, "pt", LM_TREE, "flax", aliases={"lm_head.weight": "transformer.wte.weight"})
    assert aliased.aliased == ["lm_head.weight"] and aliased.checks == []  # the same storage: proven by the header


def test_a_tied_copy_stands_in_for_its_weight_when_only_the_copy_is_stored():
    plan = plan_conversion({"lm_head.weight": (10, 4), "transformer.ln_f.weight": (4,)}, "pt", LM_TREE, "flax")
    assert [(s.source, s.target) for s in plan.steps] == [("lm_head.weight", "transformer/wte/embedding"),
                                                          ("transformer.ln_f.weight", "transformer/ln_f/scale")]
    assert plan.missing == plan.unexpected == plan.checks == []


def test_an_untied_head_is_a_weight_like_any_other():
    untied = ParameterTree("flax", {**LM_TREE.shapes, "lm_head/kernel": (4, 10)}, "transformer", "FlaxGPT2LMHeadModel",
                           model_type="gpt2")
    source = {"transformer.wte.weight": (10, 4), "transformer.ln_f.weight": (4,), "lm_head.weight": (10, 4)}
    plan = plan_conversion(source, "pt", untied, "flax")
    assert ("lm_head.weight", "lm_head/kernel") in {(s.source, s.target) for s in plan.steps}
    assert plan.checks == plan.unexpected == plan.missing == []
    plan = plan_conversion({k: v for k, v in source.items() if k != "lm_head.weight"}, "pt", untied, "flax")
    assert plan.missing == ["lm_head/kernel"]  # never silently borrowed from the embeddings


def test_redundancy_is_proven_by_values():
    source = {"transformer.wte.weight": (3, 2), "lm_head.weight": (3, 2), "h.0.attn.bias": (1, 1, 3, 3),
              "h.0.attn.masked_bias": ()}
    arrays = {"transformer.wte.weight": np.arange(6, dtype=np.float32).reshape(3, 2),
              "lm_head.weight": np.arange(6, dtype=np.float32).reshape(3, 2),
              "h.0.attn.bias": np.tri(3, dtype=bool)[None, None], "h.0.attn.masked_bias": np.float32(-1e4)}
    tree = ParameterTree("flax", {"transformer/wte/embedding": (3, 2)}, "transformer", "FlaxGPT2LMHeadModel",
                         tied={"lm_head.weight": "transformer.wte.weight"}, model_type="gpt2")
    plan = plan_conversion(source, "pt", tree, "flax")
    assert sorted(c.kind for c in plan.checks) == ["buffer", "buffer", "tied"] and plan.unexpected == []
    assert redundancy_failures(plan, arrays.__getitem__, "pt", "gpt2") == []
    arrays["lm_head.weight"] = arrays["lm_head.weight"] + 1  # an untied head saved under a tied config
    arrays["h.0.attn.bias"] = np.ones((1, 1, 3, 3), bool)  # not the causal mask the model computes
    failures = dict(redundancy_failures(plan, arrays.__getitem__, "pt", "gpt2"))
    assert set(failures) == {"lm_head.weight", "h.0.attn.bias"} and "holds other values" in failures["lm_head.weight"]


def test_plan_to_tf_or_flax_needs_the_target_tree():
    with pytest.raises(ConversionError, match="needs the target architecture"):
        plan_conversion({"a.weight": (2, 2)}, "pt", None, "tf")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("folder", ["tf-h5", "tf-h5-sharded", "tf-safetensors", "flax-msgpack", "flax-msgpack-sharded"])
def test_tf_and_flax_checkpoints_convert_to_pytorch_bit_identical(golden, tmp_path, arch, folder):
    report = modelport.convert(golden / arch / folder, tmp_path, to="pt", progress=False)
    assert report.ok and report.unexpected == []
    ours, reference = Checkpoint.open(tmp_path), Checkpoint.open(golden / arch / "pt-safetensors")
    assert ours.framework == "pt" and set(ours) == set(reference)
    for name in reference:
        assert ours[name].tobytes() == reference[name].tobytes() and ours.info(name).shape == reference.info(name).shape, name
    assert (tmp_path / "config.json").read_bytes() == (golden / arch / folder / "config.json").read_bytes()


def test_extra_and_missing_weights_are_reported_by_name(golden, tmp_path):
    source = Checkpoint.open(golden / "gpt2" / "tf-h5")
    names = [n for n in source if n != "transformer/ln_f/gamma:0"]
    tensors = [(n, source.lazy(n)) for n in names] + [("transformer/extra/kernel:0", np.ones((2, 2), np.float32))]
    save_checkpoint(tmp_path / "src", tensors, format="h5", framework="tf")
    (tmp_path / "src" / "config.json").write_bytes((golden / "gpt2" / "tf-h5" / "config.json").read_bytes())
    if not _has("flax"):
        # With no adapter that builds the architecture, names alone decide (a warning says so): every tensor is
        # converted, and what the model lacks or has no place for cannot be known.
        report = modelport.convert(tmp_path / "src", tmp_path / "out", to="pt", progress=False)
        assert "transformer.extra.weight" in report.converted and report.missing == report.unexpected == []
        return
    report = modelport.convert(tmp_path / "src", tmp_path / "out", to="flax", progress=False)
    assert report.unexpected == ["transformer/extra/kernel:0"]
    assert report.missing == ["transformer/ln_f/scale"] and not report.ok
    assert "missing (1): transformer/ln_f/scale" in report.summary()


def test_the_destination_may_not_overwrite_the_source_weights(golden, tmp_path):
    import shutil

    shutil.copytree(golden / "bert" / "pt-safetensors", tmp_path / "m")
    with pytest.raises(ConversionError, match="overwrite the source"):
        modelport.convert(tmp_path / "m", tmp_path / "m", to="pt", progress=False)


def test_bad_options_are_conversion_errors(golden, tmp_path):
    with pytest.raises(ConversionError, match="unknown checkpoint framework"):
        modelport.convert(golden / "bert" / "tf-h5", tmp_path, to="onnx")
    with pytest.raises(ConversionError, match="floating-point"):
        modelport.convert(golden / "bert" / "tf-h5", tmp_path, to="pt", dtype="int8")


def test_dtype_casts_floating_weights_only(golden, tmp_path):
    report = modelport.convert(golden / "bert" / "flax-msgpack", tmp_path, to="pt", dtype="bfloat16", progress=False)
    ours, reference = Checkpoint.open(tmp_path), Checkpoint.open(golden / "bert" / "pt-safetensors-bf16")
    assert report.ok and all(ours.info(n).dtype == "bfloat16" for n in ours)
    assert report.bytes == sum(ours.info(n).nbytes for n in ours)  # the figures count what was written
    for name in reference:  # the same rounding as transformers' bfloat16 copy
        assert ours[name].tobytes() == reference[name].tobytes(), name


def _has(adapter: str) -> bool:
    return adapter in modelport.adapters.available()
