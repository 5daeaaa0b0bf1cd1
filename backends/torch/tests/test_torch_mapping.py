"""Parameters mapped from the checkpoint file (``modelport_torch.mapping``): where they live, what a write does,
the copy-only switch, casts, ties, and the outputs against transformers' (golden data, 1e-5)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modelport_torch.models import BertModel, GPT2LMHeadModel

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
TOLERANCE = 1e-5


def backing_file(tensor: torch.Tensor) -> str | None:
    """The file mapped at the tensor's address (from /proc/self/maps); '' for anonymous memory ([heap] included)."""
    address = tensor.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if low <= address < high:
            return fields[5] if len(fields) > 5 and fields[5].startswith("/") else ""
    return None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def logits(model, arch="gpt2") -> np.ndarray:
    inputs = {k: torch.from_numpy(v) for k, v in np.load(GOLDEN / arch / "inputs.npz").items()}
    with torch.no_grad():
        return model(**inputs)[0].numpy()


@pytest.mark.parametrize("folder", ["pt-safetensors", "pt-safetensors-sharded", "pt-bin", "pt-bin-sharded"])
def test_stored_tensors_become_mapped_parameters_with_transformers_outputs(folder):
    source = GOLDEN / "gpt2" / folder
    model = GPT2LMHeadModel.from_pretrained(source)
    files = {backing_file(p) for p in model.parameters()}
    assert files and all(f and Path(f).parent == source for f in files), files  # every parameter is the file's bytes
    assert model.lm_head.weight is model.transformer.wte.weight  # tied names share the one mapped parameter
    reference = np.load(GOLDEN / "gpt2" / "outputs-pt.npz")["masked/logits"]
    assert float(np.abs(logits(model) - reference).max()) <= TOLERANCE


def test_a_write_to_a_mapped_parameter_stays_in_memory(tmp_path):
    folder = tmp_path / "gpt2"
    shutil.copytree(GOLDEN / "gpt2" / "pt-safetensors", folder)
    before = sha256(folder / "model.safetensors")
    model = GPT2LMHeadModel.from_pretrained(folder)
    weight = model.transformer.h[0].attn.c_attn.weight
    assert backing_file(weight) == str(folder / "model.safetensors")
    with torch.no_grad():
        weight.add_(1.0)  # copy-on-write: the model changes, the file does not
    other = GPT2LMHeadModel.from_pretrained(folder)
    assert torch.equal(weight, other.transformer.h[0].attn.c_attn.weight + 1.0)
    assert sha256(folder / "model.safetensors") == before
    loss = model(input_ids=torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]])).loss
    loss.backward()  # mapped parameters train like any other
    assert model.transformer.wte.weight.grad is not None and sha256(folder / "model.safetensors") == before


@pytest.mark.parametrize("switch", ["argument", "environment"])
def test_the_copy_only_switch_maps_nothing(switch, monkeypatch):
    source = GOLDEN / "gpt2" / "pt-safetensors"
    if switch == "argument":
        model = GPT2LMHeadModel.from_pretrained(source, mmap=False)
    else:
        monkeypatch.setenv("MODELPORT_MMAP", "0")
        model = GPT2LMHeadModel.from_pretrained(source)
    assert not any(backing_file(p) for p in model.parameters())  # anonymous memory only
    mapped = GPT2LMHeadModel.from_pretrained(source, mmap=True)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), mapped.state_dict().values()))
    assert model.lm_head.weight is model.transformer.wte.weight


def test_the_mmap_keyword_is_refused_where_it_means_nothing():
    pytest.importorskip("modelport_flax")
    from modelport.errors import UnsupportedKeywordError
    from modelport_flax.models import FlaxGPT2LMHeadModel

    with pytest.raises(UnsupportedKeywordError, match="mmap"):
        FlaxGPT2LMHeadModel.from_pretrained(GOLDEN / "gpt2" / "flax-msgpack", mmap=False)


def test_bfloat16_is_mapped_with_dtype_auto_and_cast_once_to_float32():
    source = GOLDEN / "bert" / "pt-safetensors-bf16"
    auto = BertModel.from_pretrained(source, dtype="auto")
    assert auto.dtype == torch.bfloat16 and all(backing_file(p) for p in auto.parameters())  # no cast, no copy
    wide = BertModel.from_pretrained(source)  # float32: each tensor cast once, into memory of its own
    copied = BertModel.from_pretrained(source, mmap=False)
    assert wide.dtype == torch.float32 and not any(backing_file(p) for p in wide.parameters())
    for (name, a), b, c in zip(wide.state_dict().items(), auto.state_dict().values(), copied.state_dict().values()):
        assert torch.equal(a, b.float()) and torch.equal(a, c), name  # widening bfloat16 is exact


def test_weights_not_in_the_checkpoint_are_initialised_and_the_rest_mapped():
    model, info = GPT2LMHeadModel.from_pretrained(GOLDEN / "bert" / "pt-safetensors", output_loading_info=True)
    assert info["missing_keys"]  # a BERT checkpoint fills no GPT-2 weight: every one is initialised
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert model.lm_head.weight is model.transformer.wte.weight


def test_truncating_the_file_after_loading_is_the_documented_trade_off(tmp_path):
    """A mapped parameter of a file truncated under it faults (SIGBUS) on access: documented in docs/trust.md,
    and avoided with mmap=False. Run in a child so the fault stays there."""
    folder = tmp_path / "gpt2"
    shutil.copytree(GOLDEN / "gpt2" / "pt-safetensors", folder)
    script = (
        "import os, sys, torch\nfrom modelport_torch.models import GPT2LMHeadModel\n"
        "model = GPT2LMHeadModel.from_pretrained(sys.argv[1], mmap=sys.argv[2] == 'map')\n"
        "os.truncate(os.path.join(sys.argv[1], 'model.safetensors'), 0)\n"
        "print(float(model.transformer.h[-1].mlp.c_proj.weight.sum()))\n"
    )
    mapped = subprocess.run([sys.executable, "-c", script, str(folder), "map"], capture_output=True, text=True, timeout=300)
    assert mapped.returncode == -7  # SIGBUS
    shutil.rmtree(folder)
    shutil.copytree(GOLDEN / "gpt2" / "pt-safetensors", folder)
    copied = subprocess.run([sys.executable, "-c", script, str(folder), "copy"], capture_output=True, text=True, timeout=300)
    assert copied.returncode == 0, copied.stderr
