"""The PyTorch Llama family (Llama, Mistral, Qwen2, Gemma) against transformers 4.57.6's outputs on a left-padded batch.

Golden data: ``tests/golden/make_llama_golden.py``. Outputs at left-padding
positions are not compared: no later position reads them, and transformers
itself leaves them implementation-defined (fully masked attention rows).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from modelport_torch import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification
from modelport_torch.models import DECODER_CLASSES

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data" / "llama-family"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
CASES = list(MANIFEST["cases"])
LOADS = [(case, folder) for case in CASES for folder in MANIFEST["cases"][case]["folders"] if not folder.endswith("bf16")]
TOLERANCE = 1e-5  # max absolute difference, float32
BF16_TOLERANCE = 0.02  # bfloat16 keeps 8 bits of mantissa; the same ops in another order differ by a few of its ulps


def _inputs(case: str) -> dict[str, np.ndarray]:
    return dict(np.load(GOLDEN / case / "inputs.npz"))


def _run(model, batch: dict[str, np.ndarray], masked: bool) -> dict[str, np.ndarray]:
    kwargs = {k: torch.from_numpy(v) for k, v in batch.items() if masked or k != "attention_mask"}
    with torch.no_grad():
        out = model(**kwargs, output_hidden_states=True)
    result = {"logits": out.logits.float().numpy()}
    for i, state in enumerate(out.hidden_states):
        result[f"hidden_states/{i}"] = state.float().numpy()
    if "last_hidden_state" in out:
        result["last_hidden_state"] = out.last_hidden_state.float().numpy()
    return result


def _assert_matches(got: dict[str, np.ndarray], reference, mask: np.ndarray, prefix: str, tolerance: float) -> None:
    names = [k.split("/", 1)[1] for k in reference.files if k.startswith(prefix + "/")]
    assert {n for n in names if n.startswith("hidden_states/")} == {n for n in got if n.startswith("hidden_states/")}
    for name in names:
        if name not in got:
            continue
        expected = reference[f"{prefix}/{name}"]
        actual = got[name]
        keep = mask.astype(bool) if actual.ndim >= 2 and actual.shape[:2] == mask.shape else slice(None)
        diff = float(np.abs(actual[keep] - expected[keep]).max())
        assert diff <= tolerance, (name, prefix, diff)


@pytest.mark.parametrize("case, folder", LOADS, ids=[f"{c}-{f}" for c, f in LOADS])
def test_golden_checkpoint_gives_transformers_outputs(case, folder):
    """Every save, transformers' own TF and Flax ones included, against transformers' PyTorch outputs (the truth)."""
    cls = AutoModelForSequenceClassification if case.endswith("seqcls") else AutoModelForCausalLM
    kwargs = {"from_tf": True} if folder.startswith("tf") else {"from_flax": True} if folder.startswith("flax") else {}
    model, info = cls.from_pretrained(GOLDEN / case / folder, output_loading_info=True, **kwargs)
    assert type(model).__name__ == MANIFEST["cases"][case]["class"]
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    batch = _inputs(case)
    reference = np.load(GOLDEN / case / "outputs-pt.npz")
    _assert_matches(_run(model, batch, True), reference, batch["attention_mask"], "masked", TOLERANCE)
    _assert_matches(_run(model, batch, False), reference, np.ones_like(batch["attention_mask"]), "nomask", TOLERANCE)


@pytest.mark.parametrize("case", [c for c in CASES if MANIFEST["cases"][c]["class"].endswith("ForCausalLM")])
def test_the_bare_model_loads_the_causal_lm_checkpoint(case):
    model, info = AutoModel.from_pretrained(GOLDEN / case / "pt-safetensors", output_loading_info=True)
    assert type(model) is DECODER_CLASSES[model.config.model_type][0]
    assert info["missing_keys"] == [] and info["mismatched_keys"] == [] and info["unexpected_keys"] == ["lm_head.weight"] * (
        not model.config.tie_word_embeddings)
    batch = _inputs(case)
    with torch.no_grad():
        hidden = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy()
    expected = np.load(GOLDEN / case / "outputs-pt.npz")["masked/last_hidden_state"]
    keep = batch["attention_mask"].astype(bool)
    assert float(np.abs(hidden[keep] - expected[keep]).max()) <= TOLERANCE


def test_a_bfloat16_checkpoint_stays_bfloat16_and_gives_transformers_bfloat16_outputs():
    case = "llama"
    model = AutoModelForCausalLM.from_pretrained(GOLDEN / case / "pt-safetensors-bf16", dtype="auto")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    batch = _inputs(case)
    got = _run(model, batch, True)
    reference = np.load(GOLDEN / case / "outputs-pt-bf16.npz")
    keep = batch["attention_mask"].astype(bool)
    diff = float(np.abs(got["logits"][keep] - reference["masked/logits"][keep]).max())
    assert diff <= BF16_TOLERANCE, diff
    float32 = np.load(GOLDEN / case / "outputs-pt.npz")["masked/logits"]
    assert float(np.abs(got["logits"][keep] - float32[keep]).max()) > 0  # really computed in bfloat16


@pytest.mark.parametrize("case", CASES)
def test_save_pretrained_writes_transformers_names_and_reloads_the_same(case, tmp_path):
    cls = AutoModelForSequenceClassification if case.endswith("seqcls") else AutoModelForCausalLM
    model = cls.from_pretrained(GOLDEN / case / "pt-safetensors")
    model.save_pretrained(tmp_path)
    from safetensors import safe_open

    with safe_open(GOLDEN / case / "pt-safetensors" / "model.safetensors", "np") as theirs, \
            safe_open(tmp_path / "model.safetensors", "np") as ours:
        assert sorted(ours.keys()) == sorted(theirs.keys())
        for key in theirs.keys():
            np.testing.assert_array_equal(ours.get_tensor(key), theirs.get_tensor(key))
    again = cls.from_pretrained(tmp_path)
    batch = _inputs(case)
    np.testing.assert_array_equal(_run(again, batch, True)["logits"], _run(model, batch, True)["logits"])


def test_the_causal_lm_loss_ignores_minus_100_labels():
    model = AutoModelForCausalLM.from_pretrained(GOLDEN / "llama" / "pt-safetensors")
    batch = _inputs("llama")
    ids = torch.from_numpy(batch["input_ids"][:1])
    labels = ids.clone()
    labels[0, :4] = -100
    with torch.no_grad():
        out = model(ids, labels=labels)
        logits = out.logits[0, 3:-1]  # the positions whose next token is labelled
        expected = torch.nn.functional.cross_entropy(logits, ids[0, 4:])
    assert torch.allclose(out.loss, expected, atol=1e-6)


def test_sliding_window_matters_for_mistral():
    """The golden sequence is longer than Mistral's window (4): without it, outputs move."""
    model = AutoModelForCausalLM.from_pretrained(GOLDEN / "mistral" / "pt-safetensors")
    batch = _inputs("mistral")
    windowed = _run(model, batch, False)["logits"]
    model.config.sliding_window = None
    for layer in model.model.layers:
        layer.self_attn.window = None
    assert float(np.abs(_run(model, batch, False)["logits"] - windowed).max()) > 1e-3


def test_the_smollm2_gguf_file_gives_transformers_logits():
    """A real Q4_1 GGUF file: llama.cpp's names and blocks, dequantized; transformers' logits within 1e-4."""
    from _support.gguf import assert_transformers_logits, input_ids, smollm2_file

    path = smollm2_file()
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    assert type(model).__name__.endswith("LlamaForCausalLM") and model.config.tie_word_embeddings
    with torch.no_grad():
        logits = model(torch.from_numpy(input_ids())).logits.numpy()
    assert_transformers_logits(logits)
