"""Build the conformance suite's reference models with Hugging Face transformers 4.57.6 (``nox -s conformance_references``).

Each reference is a tiny model of an architecture the suite checks: its
``config.json`` and ``model.safetensors`` as transformers' PyTorch class saves
them, and ``outputs.npz`` with fixed inputs and what that class computes on
them. Every weight is perturbed (no LayerNorm keeps its ones, no bias its
zeros), and untied heads are scaled away from the embeddings so that a model
that ties them anyway cannot match. The files are small and ship inside the
conformance package, so adapters are checked against transformers without
installing it.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import numpy as np
import torch
import transformers

OUT = Path(__file__).parent / "src" / "modelport_conformance" / "references"
SEED = 4321
BATCH, SEQ = 2, 6


def _bert(**extra) -> transformers.BertConfig:
    return transformers.BertConfig(vocab_size=64, hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                   max_position_embeddings=32, type_vocab_size=2, **extra)


def _gpt2(**extra) -> transformers.GPT2Config:
    return transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=24, n_layer=2, n_head=4, **extra)


#: name -> (config, PyTorch class, untied head module or None, outputs to keep)
REFERENCES = {
    "bert": (_bert, "BertModel", None, ("last_hidden_state", "pooler_output")),
    "bert-mlm": (_bert, "BertForMaskedLM", None, ("logits",)),
    "bert-mlm-untied": (lambda: _bert(tie_word_embeddings=False), "BertForMaskedLM", "cls.predictions.decoder", ("logits",)),
    "gpt2": (_gpt2, "GPT2Model", None, ("last_hidden_state",)),
    "gpt2-lm": (_gpt2, "GPT2LMHeadModel", None, ("logits",)),
    "gpt2-lm-untied": (lambda: _gpt2(tie_word_embeddings=False), "GPT2LMHeadModel", "lm_head", ("logits",)),
}


def _inputs(name: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    inputs = {"input_ids": rng.integers(1, 64, size=(BATCH, SEQ), dtype=np.int64),
              "attention_mask": np.array([[1] * SEQ, [1] * (SEQ - 2) + [0, 0]], dtype=np.int64)}
    if name.startswith("bert"):
        inputs["token_type_ids"] = np.array([[0] * 3 + [1] * (SEQ - 3), [0] * SEQ], dtype=np.int64)
    return inputs


def build(name: str) -> None:
    make_config, class_name, untied, keep = REFERENCES[name]
    torch.manual_seed(SEED)
    model = getattr(transformers, class_name)(make_config()).eval()
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for param in model.parameters():  # tied parameters appear once
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
        if untied:
            head = model.get_submodule(untied)
            assert head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr(), f"{name}: the head is still tied"
            head.weight.mul_(-3.0)
    inputs = _inputs(name)
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, return_dict=True)
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    arrays = {f"input:{k}": v for k, v in inputs.items()} | {f"output:{k}": out[k].numpy() for k in keep}
    np.savez(folder / "outputs.npz", **arrays)
    print(f"{name}: {class_name}, {sum(p.numel() for p in model.parameters())} parameters, outputs {list(keep)}")


def main() -> None:
    for name in REFERENCES:
        build(name)
    (OUT / "MADE-BY.json").write_text(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__,
                                                  "huggingface_hub": importlib.metadata.version("huggingface_hub"),
                                                  "script": "conformance/make_references.py"}, indent=1) + "\n")


if __name__ == "__main__":
    main()
