"""Model outputs behave alike in the three adapters, as transformers 4.x's ``ModelOutput`` does.

Each adapter's BERT and GPT-2 LM run on the golden inputs: attribute and key
access, ``out[0]``, ``to_tuple()``, ``return_dict=False`` (from the call or the
config), ``output_hidden_states`` and ``output_attentions`` (from the call or the
config), and an ``AttributeError`` for a misspelt name. Hidden states and
attentions must agree across frameworks within 1e-5.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from modelport import adapters
from modelport.outputs import ModelOutput

from _support.golden import GOLDEN

ADAPTERS = ("torch", "tf", "flax")
ARCHS = {"bert": 2, "gpt2": 2}  # golden models' layer counts
TOLERANCE = 1e-5


def test_model_output_is_transformers_model_output():
    out = ModelOutput(loss=None, logits=np.ones(2), hidden_states=None, attentions=(np.zeros(1),))
    assert list(out) == ["logits", "attentions"] and out.loss is None and out.hidden_states is None
    assert out[0] is out["logits"] is out.logits and out[1] is out.attentions and len(out.to_tuple()) == 2
    assert out[:1] == (out.logits,)
    with pytest.raises(AttributeError, match="logitz"):
        out.logitz  # noqa: B018 - a misspelt name must not read as None
    with pytest.raises(KeyError):
        out["loss"]
    out.loss = np.zeros(())
    assert out[0] is out.loss  # set later, still first: fields keep their declared order
    for clone in (copy.deepcopy(out), pickle.loads(pickle.dumps(out))):
        assert list(clone) == list(out) and clone._fields == out._fields and clone.hidden_states is None


def _model(adapter_name: str, arch: str):
    if adapter_name not in adapters.available():
        pytest.skip(f"the {adapter_name} adapter is not installed")
    adapter = adapters.get(adapter_name)
    return adapter, adapter.load_model(GOLDEN / arch / "pt-safetensors")


def _inputs(arch: str) -> dict[str, np.ndarray]:
    return {k: v.astype(np.int32) for k, v in np.load(GOLDEN / arch / "inputs.npz").items()}


def _call(adapter_name: str, model, inputs: dict[str, np.ndarray], **flags):
    if adapter_name == "torch":
        import torch

        with torch.no_grad():
            return model(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in inputs.items()}, **flags)
    return model(**inputs, **flags)


def _np(value) -> np.ndarray:
    return np.asarray(value.detach() if hasattr(value, "detach") else value, dtype=np.float32)


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("adapter_name", ADAPTERS)
def test_outputs_behave_alike(adapter_name, arch):
    _, model = _model(adapter_name, arch)
    inputs = _inputs(arch)
    out = _call(adapter_name, model, inputs)
    first = "last_hidden_state" if arch == "bert" else "logits"
    assert isinstance(out, ModelOutput) and list(out)[0] == first
    assert _np(out[0]).shape == _np(out[first]).shape == _np(getattr(out, first)).shape
    assert out.hidden_states is None and out.attentions is None and "hidden_states" not in out
    with pytest.raises(AttributeError):
        out.last_hiden_state  # noqa: B018
    as_tuple = _call(adapter_name, model, inputs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(out.to_tuple())
    assert all(np.array_equal(_np(a), _np(b)) for a, b in zip(as_tuple, out.to_tuple()))


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("adapter_name", ADAPTERS)
def test_switches_come_from_the_call_or_the_config(adapter_name, arch):
    _, model = _model(adapter_name, arch)
    inputs = _inputs(arch)
    asked = _call(adapter_name, model, inputs, output_hidden_states=True, output_attentions=True)
    assert len(asked.hidden_states) == ARCHS[arch] + 1 and len(asked.attentions) == ARCHS[arch]
    model.config.output_hidden_states = model.config.output_attentions = True
    model.config.return_dict = False
    try:
        from_config = _call(adapter_name, model, inputs)
        overridden = _call(adapter_name, model, inputs, output_attentions=False, return_dict=True)
    finally:
        model.config.output_hidden_states = model.config.output_attentions = False
        model.config.return_dict = True
    assert isinstance(from_config, tuple) and len(from_config) == len(asked.to_tuple())
    assert overridden.attentions is None and len(overridden.hidden_states) == ARCHS[arch] + 1


FRAMEWORK_OF = {"torch": "pt", "tf": "tf", "flax": "flax"}


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("adapter_name", ADAPTERS)
def test_hidden_states_and_attentions_are_transformers(adapter_name, arch):
    """Against what transformers 4.57.6's class of the same framework computes (``states-*.npz``, made by
    ``tests/golden/make_golden.py``), masked inputs, every layer."""
    _, model = _model(adapter_name, arch)
    out = _call(adapter_name, model, _inputs(arch), output_hidden_states=True, output_attentions=True)
    reference = np.load(GOLDEN / arch / f"states-{FRAMEWORK_OF[adapter_name]}.npz")
    for kind in ("hidden_states", "attentions"):
        ours = getattr(out, kind)
        assert len(ours) == len([k for k in reference.files if k.startswith(kind + "/")])
        for i, value in enumerate(ours):
            diff = float(np.abs(_np(value) - reference[f"{kind}/{i}"]).max())
            assert diff <= TOLERANCE, (kind, i, diff)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_hidden_states_and_attentions_agree_across_frameworks(arch):
    inputs = _inputs(arch)
    results = {}
    for name in ADAPTERS:
        _, model = _model(name, arch)
        out = _call(name, model, inputs, output_hidden_states=True, output_attentions=True)
        results[name] = ([_np(h) for h in out.hidden_states], [_np(a) for a in out.attentions])
    states, attentions = results["torch"]
    mask = inputs["attention_mask"]
    for probs in attentions:  # [batch, heads, query, key]: rows sum to 1, padded keys get nothing
        assert np.allclose(probs.sum(-1), 1.0, atol=1e-5)
        assert np.abs(probs * (1 - mask[:, None, None, :])).max() <= 1e-6
    for name in ("tf", "flax"):
        other_states, other_attentions = results[name]
        for ours, theirs in zip(states, other_states, strict=True):
            assert np.abs(ours - theirs).max() <= TOLERANCE, name
        for ours, theirs in zip(attentions, other_attentions, strict=True):
            assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= TOLERANCE, name
