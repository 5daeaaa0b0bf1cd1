"""Every reference model the adapter declares matches transformers 4.57.6, before and after its own save,
tied and untied heads alike; the dtype keywords do what the adapter declares.

The reference checkpoints and outputs were made by transformers' PyTorch classes
(``conformance/make_references.py``); nothing here is computed by the adapter
under test and then compared with itself.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

from modelport import AutoConfig
from modelport.checkpoint import Checkpoint
from modelport.dtypes import DTYPES
from modelport_conformance.plugin import require
from modelport_conformance.references import REFERENCES, reference

TOLERANCE = 1e-5  # max absolute difference from transformers' float32 outputs (tiny models, N(0, 0.1) perturbations)
HALF = ("float16", "bfloat16")
#: computing in half precision moves the tiny BERT's outputs by more than 0 and at most this (the Flax adapter:
#: 0.0028 in float16, 0.017 in bfloat16)
HALF_TOLERANCE = {"float16": 0.02, "bfloat16": 0.1}


def _declared(adapter, name):
    require(adapter, "reference_models")
    ref = reference(name)
    if ref.architecture not in adapter.architectures()[0]:
        pytest.skip(f"{adapter.name} does not declare the architecture {ref.architecture}")
    return ref


def _copy(ref, tmp_path):
    folder = tmp_path / ref.name
    shutil.copytree(ref.folder, folder)
    return folder


def _differences(adapter, ref, outputs) -> dict[str, float]:
    missing = sorted(set(ref.outputs) - set(outputs))
    assert not missing, f"{adapter.name}: run_model gave no {missing} for {ref.architecture} (it gave {sorted(outputs)})"
    return {k: float(np.abs(outputs[k].astype(np.float64) - want).max()) for k, want in ref.outputs.items()}


def _load(adapter, folder, **kwargs):
    config = AutoConfig.from_pretrained(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch_dtype is the legacy name
        return adapter.model_class(config).from_pretrained(folder, output_loading_info=True, **kwargs)


@pytest.mark.parametrize("name", REFERENCES)
def test_a_reference_model_matches_transformers_before_and_after_saving(adapter, name, tmp_path):
    ref = _declared(adapter, name)
    model, info = _load(adapter, _copy(ref, tmp_path))
    report = {k: info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    assert report == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}, (
        f"{adapter.name}: transformers' own {ref.architecture} checkpoint loads with a report: {report}")
    diffs = _differences(adapter, ref, adapter.run_model(model, ref.inputs))
    assert max(diffs.values()) <= TOLERANCE, (
        f"{adapter.name}: {ref.architecture} ({name}{'' if ref.tied else ', untied head'}) differs from transformers "
        f"by {diffs} (tolerance {TOLERANCE:.0e})")
    model.save_pretrained(tmp_path / "saved")
    again = adapter.load_model(tmp_path / "saved")
    diffs = _differences(adapter, ref, adapter.run_model(again, ref.inputs))
    assert max(diffs.values()) <= TOLERANCE, (
        f"{adapter.name}: {ref.architecture} ({name}) saved by the adapter and loaded again differs from transformers "
        f"by {diffs} (tolerance {TOLERANCE:.0e})")


def _saved_floats(model, folder) -> dict[str, np.ndarray]:
    model.save_pretrained(folder)
    saved = Checkpoint.open(folder)
    return {n: saved[n] for n in saved if DTYPES[saved.info(n).dtype].is_floating}


@pytest.mark.parametrize("keyword", ["dtype", "torch_dtype"])
@pytest.mark.parametrize("half", HALF)
def test_a_dtype_keyword_does_what_the_adapter_declares(adapter, keyword, half, tmp_path):
    """``"parameters"``: every weight is the checkpoint's value rounded to ``half``. ``"computation"``: the outputs
    move (by less than the half-precision tolerance) and the weights stay as stored. Not declared: a TypeError
    naming the keyword, never a silent float32 load."""
    ref = _declared(adapter, "bert")
    folder = _copy(ref, tmp_path)
    meaning = adapter.capabilities.dtype_keywords.get(keyword)
    if meaning is None:
        with pytest.raises(TypeError, match=keyword):
            _load(adapter, folder, **{keyword: half})
        return
    assert meaning in ("parameters", "computation"), f"{adapter.name}: unknown dtype_keywords meaning {meaning!r}"
    model, _ = _load(adapter, folder, **{keyword: half})
    stored = Checkpoint.open(folder)
    saved = _saved_floats(model, tmp_path / "saved")
    assert saved, f"{adapter.name}: save_pretrained wrote no floating-point weights"
    if meaning == "parameters":
        wrong = [f"{n}: {v.dtype}" for n, v in saved.items() if v.dtype != DTYPES[half].numpy]
        assert wrong == [], f"{adapter.name}: {keyword}={half!r} is declared to set the weights' dtype; saved: {wrong[:4]}"
        by_suffix = {n.split(".", 1)[-1]: n for n in stored}
        changed = [n for n, v in saved.items()
                   if v.tobytes() != stored[by_suffix.get(n.split(".", 1)[-1], n)].astype(DTYPES[half].numpy).tobytes()]
        assert changed == [], f"{adapter.name}: {keyword}={half!r}: weights are not the stored values rounded to {half}: {changed[:4]}"
        return
    diffs = _differences(adapter, ref, adapter.run_model(model, ref.inputs))
    assert 0 < max(diffs.values()) <= HALF_TOLERANCE[half], (
        f"{adapter.name}: {keyword}={half!r} is declared to set the computation dtype; the outputs differ from "
        f"transformers' float32 ones by {diffs} (expected more than 0, at most {HALF_TOLERANCE[half]})")
    moved = [n for n, v in saved.items() if v.dtype != np.float32]
    assert moved == [], f"{adapter.name}: {keyword}={half!r} sets the computation dtype, yet weights were saved as {moved[:4]}"
