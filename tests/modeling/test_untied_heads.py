"""Untied output layers (``tie_word_embeddings=False``) are real weights in every framework, and tied copies are proven.

GPT-2 LM and BERT-MLM models with untied heads are saved from each framework in
each of its formats, then loaded by each of the three adapters (and converted
with ``modelport convert``, no ``--verify``): the logits must stay within 1e-5
of the saving model's. A checkpoint whose stored "tied" copy holds other values
is reported, never silently replaced by the embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import modelport
from modelport import BertConfig, GPT2Config, adapters, frameworks
from modelport.checkpoint import Checkpoint

pytestmark = pytest.mark.skipif(not {"torch", "tf", "flax"} <= set(adapters.available()),
                                reason="needs the torch, tf and flax adapters")

TOLERANCE = 1e-5  # max absolute difference of float32 logits
CONFIGS = {
    "gpt2": GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2, tie_word_embeddings=False,
                       architectures=["GPT2LMHeadModel"]),
    "bert-mlm": BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                           max_position_embeddings=16, tie_word_embeddings=False, architectures=["BertForMaskedLM"]),
}
# (saving adapter, format) -> save_pretrained keywords: every format each framework writes
SAVES = {
    ("torch", "safetensors"): {}, ("torch", "bin"): {"safe_serialization": False},
    ("tf", "safetensors"): {}, ("tf", "tf-safetensors"): {"layout": "tf"}, ("tf", "h5"): {"safe_serialization": False},
    ("flax", "safetensors"): {}, ("flax", "msgpack"): {"safe_serialization": False},
}
LOADERS = ("torch", "tf", "flax")
INPUTS = {"input_ids": np.array([[3, 9, 27, 4, 11, 1], [8, 2, 40, 5, 0, 0]], np.int32),
          "attention_mask": np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], np.int32)}


def _torch_source(arch: str, folder: Path) -> Path:
    """A torch model with random, untied weights, saved canonically: the weights every saver starts from."""
    import torch

    torch.manual_seed(0)
    adapter = adapters.get("torch")
    model = adapter.model_class(CONFIGS[arch])(CONFIGS[arch])
    with torch.no_grad():  # a head far from the embeddings: a wrongly tied load cannot pass
        model.get_output_embeddings().weight.mul_(-3.0).add_(0.5)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[tuple[str, str, str], tuple[Path, np.ndarray]]:
    """(arch, saver, format) -> (folder, the saving model's logits), built on first use."""
    cache: dict = {}
    root = tmp_path_factory.mktemp("untied")

    def get(arch: str, saver: str, fmt: str) -> tuple[Path, np.ndarray]:
        if (arch, saver, fmt) not in cache:
            source = root / f"{arch}-source"
            if not source.exists():
                _torch_source(arch, source)
            adapter = adapters.get(saver)
            model = adapter.load_model(source)
            folder = root / f"{arch}-{saver}-{fmt}"
            model.save_pretrained(folder, **SAVES[(saver, fmt)])
            cache[(arch, saver, fmt)] = folder, adapter.run_model(model, INPUTS)["logits"]
        return cache[(arch, saver, fmt)]

    return get  # type: ignore[return-value]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("saver,fmt", list(SAVES), ids=[f"{s}-{f}" for s, f in SAVES])
@pytest.mark.parametrize("arch", list(CONFIGS))
def test_untied_heads_load_in_every_framework(saved, arch, saver, fmt, loader):
    folder, reference = saved(arch, saver, fmt)
    adapter = adapters.get(loader)
    cls = adapter.model_class(modelport.AutoConfig.from_pretrained(folder))
    loaded = cls.from_pretrained(folder, output_loading_info=True)
    model, info = loaded[0], loaded[-1]
    assert (info["missing_keys"], info["unexpected_keys"], info["mismatched_keys"]) == ([], [], []), info
    diff = float(np.abs(adapter.run_model(model, INPUTS)["logits"] - reference).max())
    assert diff <= TOLERANCE, diff


@pytest.mark.parametrize("to", ["pt", "tf", "flax"])
@pytest.mark.parametrize("saver,fmt", list(SAVES), ids=[f"{s}-{f}" for s, f in SAVES])
@pytest.mark.parametrize("arch", list(CONFIGS))
def test_untied_heads_survive_conversion_without_verify(saved, tmp_path, arch, saver, fmt, to):
    folder, reference = saved(arch, saver, fmt)
    for out_format in ("safetensors", "native"):
        report = modelport.convert(folder, tmp_path / out_format, to=to, format=out_format, progress=False)
        assert report.ok and report.unexpected == [], report.summary()
        adapter = adapters.get(frameworks.adapter_for(to))
        logits = adapter.run_model(adapter.load_model(tmp_path / out_format), INPUTS)["logits"]
        diff = float(np.abs(logits - reference).max())
        assert diff <= TOLERANCE, (out_format, diff)


def _claiming_ties(folder: Path, tmp_path: Path) -> Path:
    """The untied checkpoint of ``folder`` with a config that says the head is tied: a stored copy that differs."""
    lying = tmp_path / "lying"
    lying.mkdir()
    (lying / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["tie_word_embeddings"] = True
    (lying / "config.json").write_text(json.dumps(config))
    return lying


@pytest.mark.parametrize("loader", LOADERS)
def test_a_tied_copy_that_differs_is_reported(saved, tmp_path, loader):
    """An untied checkpoint whose config claims ties: the head is not dropped in silence."""
    lying = _claiming_ties(saved("gpt2", "torch", "safetensors")[0], tmp_path)
    adapter = adapters.get(loader)
    cls = adapter.model_class(modelport.AutoConfig.from_pretrained(lying))
    info = cls.from_pretrained(lying, output_loading_info=True)[-1]
    assert info["unexpected_keys"] == ["lm_head.weight"], info
    assert any("lm_head.weight" in m and "holds other values" in m for m in info["error_msgs"]), info


def test_a_tied_copy_that_differs_is_reported_by_convert(saved, tmp_path):
    lying = _claiming_ties(saved("bert-mlm", "torch", "safetensors")[0], tmp_path)
    report = modelport.convert(lying, tmp_path / "out", to="flax", progress=False)
    assert report.unexpected == ["cls.predictions.decoder.weight"]
    assert "cls.predictions.decoder.weight" not in {n.replace("/", ".") for n in Checkpoint.open(tmp_path / "out")}
