"""Adapters with reference models: loading reports missing, unexpected and mismatched keys; configs and weights round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from modelport import AutoConfig
from modelport.checkpoint import Checkpoint
from modelport.errors import ModelportError
from modelport_conformance.plugin import require
from modelport_conformance.samples import prepare_checkpoint, tiny_bert_config


def _load(adapter, folder, **kwargs):
    config = AutoConfig.from_pretrained(folder)
    return adapter.model_class(config).from_pretrained(folder, output_loading_info=True, **kwargs)


def _info(result):
    model, info = result[0], result[-1]
    return model, info


def test_a_complete_checkpoint_loads_with_nothing_to_report(adapter, tmp_path):
    require(adapter, "reference_models")
    prepare_checkpoint(adapter, tmp_path, tiny_bert_config())
    _, info = _info(_load(adapter, tmp_path))
    assert (info["missing_keys"], info["unexpected_keys"], info["mismatched_keys"]) == ([], [], []), info


def test_a_missing_weight_is_reported(adapter, tmp_path):
    require(adapter, "reference_models")
    prepare_checkpoint(adapter, tmp_path, tiny_bert_config(), drop="pooler.dense.bias")
    _, info = _info(_load(adapter, tmp_path))
    assert len(info["missing_keys"]) == 1 and "pooler" in info["missing_keys"][0], (
        f"{adapter.name}: pooler.dense.bias was left out; missing_keys = {info['missing_keys']}")


def test_an_unexpected_weight_is_reported(adapter, tmp_path):
    require(adapter, "reference_models")
    prepare_checkpoint(adapter, tmp_path, tiny_bert_config(), extra=True)
    _, info = _info(_load(adapter, tmp_path))
    assert [k for k in info["unexpected_keys"] if "extra_head" in k], (
        f"{adapter.name}: extra_head.weight was added; unexpected_keys = {info['unexpected_keys']}")


def test_a_mismatched_weight_is_an_error_unless_ignored(adapter, tmp_path):
    require(adapter, "reference_models")
    prepare_checkpoint(adapter, tmp_path, tiny_bert_config(), grow="pooler.dense.bias")
    with pytest.raises(ModelportError):
        _load(adapter, tmp_path)
    _, info = _info(_load(adapter, tmp_path, ignore_mismatched_sizes=True))
    assert len(info["mismatched_keys"]) == 1 and "pooler" in str(info["mismatched_keys"][0]), (
        f"{adapter.name}: pooler.dense.bias has one extra row; mismatched_keys = {info['mismatched_keys']}")


def test_config_and_weights_round_trip_through_save_pretrained(adapter, tmp_path):
    require(adapter, "reference_models")
    written = prepare_checkpoint(adapter, tmp_path / "src", tiny_bert_config())
    model, _ = _info(_load(adapter, tmp_path / "src"))
    model.save_pretrained(tmp_path / "out")
    ours, theirs = (AutoConfig.from_pretrained(tmp_path / f).to_dict() for f in ("out", "src"))
    assert ours.pop("dtype", None) in (None, "float32"), f"{adapter.name}: a float32 model saved dtype {ours.get('dtype')}"
    theirs.pop("dtype", None)
    ours.pop("_name_or_path"), theirs.pop("_name_or_path")
    assert ours == theirs, f"{adapter.name}: the saved config differs: " + str(
        {k: (ours.get(k), theirs.get(k)) for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k)})
    saved = Checkpoint.open(tmp_path / "out")
    assert saved.framework == "pt", f"{adapter.name}: save_pretrained's default is not the canonical form ({saved.framework})"
    names = {n.split(".", 1)[1] if n.startswith("bert.") else n: n for n in saved}
    for canonical, value in written.items():
        key = canonical.split(".", 1)[1] if canonical.startswith("bert.") else canonical
        assert key in names, f"{adapter.name}: {canonical} is not in the saved checkpoint"
        got = saved[names[key]]
        assert got.dtype == value.dtype and np.array_equal(got, value), f"{adapter.name}: {canonical} changed on the way"


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_a_half_precision_checkpoint_loads_by_the_declared_dtype_rule(adapter, half, tmp_path):
    """With no dtype argument, stored float16 or bfloat16 weights come into the model as the adapter declares in
    ``capabilities.default_load_dtype``: ``"float32"`` holding exactly the stored values (an exact
    widening), or ``"stored"`` in the stored dtype bit for bit; save_pretrained then writes that dtype. Nothing is
    rounded, and integer tensors are never cast."""
    require(adapter, "reference_models")
    rule = adapter.capabilities.default_load_dtype
    assert rule in ("float32", "stored"), f"{adapter.name}: unknown default_load_dtype {rule!r}"
    written = prepare_checkpoint(adapter, tmp_path / "src", tiny_bert_config(), dtype=half)
    model, info = _info(_load(adapter, tmp_path / "src"))
    assert (info["missing_keys"], info["mismatched_keys"]) == ([], []), info
    model.save_pretrained(tmp_path / "out")
    saved = Checkpoint.open(tmp_path / "out")
    names = {n.split(".", 1)[1] if n.startswith("bert.") else n: n for n in saved}
    wrong = []
    for canonical, value in written.items():
        key = canonical.split(".", 1)[1] if canonical.startswith("bert.") else canonical
        got = saved[names[key]]
        want = value.astype(np.float32) if rule == "float32" else value
        if got.dtype != want.dtype or got.tobytes() != want.tobytes():
            wrong.append(f"{canonical}: {got.dtype}")
    assert wrong == [], (f"{adapter.name}: declares default_load_dtype={rule!r}, but {half} weights came back "
                         f"otherwise: {wrong[:5]}")
