"""The PyTorch Llama family (Llama, Mistral, Qwen2, Gemma) against transformers 4.57.6's outputs on a left-padded batch.

Golden data: ``tests/golden/make_llama_golden.py``. Outputs at left-padding
positions are not compared: no later position reads them, and transformers
itself leaves them implementation-defined (fully masked attention rows).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modelport_torch import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification
from modelport_torch.models import DECODER_CLASSES

from _support.llama_family import CASES, FOLDER, MANIFEST, TOLERANCE, inputs, loads, max_diff

LOADS = loads()
BF16_TOLERANCE = 0.02  # bfloat16 keeps 8 bits of mantissa; the same ops in another order differ by a few of its ulps


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
        diff = max_diff(got[name], reference[f"{prefix}/{name}"], mask)
        assert diff <= tolerance, (name, prefix, diff)


@pytest.mark.parametrize("case, folder", LOADS, ids=[f"{c}-{f}" for c, f in LOADS])
def test_golden_checkpoint_gives_transformers_outputs(case, folder):
    """Every save, transformers' own TF and Flax ones included, against transformers' PyTorch outputs (the truth)."""
    cls = AutoModelForSequenceClassification if case.endswith("seqcls") else AutoModelForCausalLM
    kwargs = {"from_tf": True} if folder.startswith("tf") else {"from_flax": True} if folder.startswith("flax") else {}
    model, info = cls.from_pretrained(FOLDER / case / folder, output_loading_info=True, **kwargs)
    assert type(model).__name__ == MANIFEST["cases"][case]["class"]
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    batch = inputs(case)
    reference = np.load(FOLDER / case / "outputs-pt.npz")
    _assert_matches(_run(model, batch, True), reference, batch["attention_mask"], "masked", TOLERANCE)
    _assert_matches(_run(model, batch, False), reference, np.ones_like(batch["attention_mask"]), "nomask", TOLERANCE)


@pytest.mark.parametrize("case", [c for c in CASES if MANIFEST["cases"][c]["class"].endswith("ForCausalLM")])
def test_the_bare_model_loads_the_causal_lm_checkpoint(case):
    model, info = AutoModel.from_pretrained(FOLDER / case / "pt-safetensors", output_loading_info=True)
    assert type(model) is DECODER_CLASSES[model.config.model_type][0]
    assert info["missing_keys"] == [] and info["mismatched_keys"] == [] and info["unexpected_keys"] == ["lm_head.weight"] * (
        not model.config.tie_word_embeddings)
    batch = inputs(case)
    with torch.no_grad():
        hidden = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy()
    expected = np.load(FOLDER / case / "outputs-pt.npz")["masked/last_hidden_state"]
    assert max_diff(hidden, expected, batch["attention_mask"]) <= TOLERANCE


def test_a_bfloat16_checkpoint_stays_bfloat16_and_gives_transformers_bfloat16_outputs():
    case = "llama"
    model = AutoModelForCausalLM.from_pretrained(FOLDER / case / "pt-safetensors-bf16", dtype="auto")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    batch = inputs(case)
    got = _run(model, batch, True)
    reference = np.load(FOLDER / case / "outputs-pt-bf16.npz")
    diff = max_diff(got["logits"], reference["masked/logits"], batch["attention_mask"])
    assert diff <= BF16_TOLERANCE, diff
    float32 = np.load(FOLDER / case / "outputs-pt.npz")["masked/logits"]
    assert max_diff(got["logits"], float32, batch["attention_mask"]) > 0  # really computed in bfloat16


@pytest.mark.parametrize("case", CASES)
def test_save_pretrained_writes_transformers_names_and_reloads_the_same(case, tmp_path):
    cls = AutoModelForSequenceClassification if case.endswith("seqcls") else AutoModelForCausalLM
    model = cls.from_pretrained(FOLDER / case / "pt-safetensors")
    model.save_pretrained(tmp_path)
    from safetensors import safe_open

    with safe_open(FOLDER / case / "pt-safetensors" / "model.safetensors", "np") as theirs, \
            safe_open(tmp_path / "model.safetensors", "np") as ours:
        assert sorted(ours.keys()) == sorted(theirs.keys())
        for key in theirs.keys():
            np.testing.assert_array_equal(ours.get_tensor(key), theirs.get_tensor(key))
    again = cls.from_pretrained(tmp_path)
    batch = inputs(case)
    np.testing.assert_array_equal(_run(again, batch, True)["logits"], _run(model, batch, True)["logits"])


def test_the_causal_lm_loss_ignores_minus_100_labels():
    model = AutoModelForCausalLM.from_pretrained(FOLDER / "llama" / "pt-safetensors")
    batch = inputs("llama")
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
    model = AutoModelForCausalLM.from_pretrained(FOLDER / "mistral" / "pt-safetensors")
    batch = inputs("mistral")
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
