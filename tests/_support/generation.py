"""Golden generation data (tests/golden/data/generation, written by transformers 4.57.6 with
tests/golden/make_generation_golden.py), shared by the core's and the adapters' generation tests."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelport.generation import processors as p

from .golden import GOLDEN

DATA = GOLDEN / "generation"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
NEW_TOKENS = MANIFEST["new_tokens"]
SEARCHES: dict[str, dict] = MANIFEST["searches"]
CHECKPOINTS = sorted(MANIFEST["checkpoints"])
#: (checkpoint, search) pairs: every golden GPT-2 and Llama-family checkpoint, greedy and beam search
GENERATIONS = [(checkpoint, search) for checkpoint in CHECKPOINTS for search in SEARCHES]
#: the checkpoints the compiled (JAX, TF) loops are checked on by default: GPT-2, a sliding window with grouped heads,
#: and rotary frequencies computed per length (each compiles its own loop, 4-10 s); ``MODELPORT_GENERATION=all``
#: (``nox -s generation``) checks every one
COMPILED_CHECKPOINTS = ("gpt2", "mistral", "llama-dynamic")
COMPILED_GENERATIONS = GENERATIONS if os.environ.get("MODELPORT_GENERATION") == "all" else [
    (checkpoint, search) for checkpoint, search in GENERATIONS if checkpoint in COMPILED_CHECKPOINTS]

#: transformers' processors in the golden file, and modelport's equivalent
PROCESSORS = {
    "repetition_penalty_1.3": p.RepetitionPenalty(1.3),
    "repetition_penalty_0.7": p.RepetitionPenalty(0.7),
    "no_repeat_ngram_1": p.NoRepeatNGram(1),
    "no_repeat_ngram_2": p.NoRepeatNGram(2),
    "no_repeat_ngram_3": p.NoRepeatNGram(3),
    "min_length_15": p.MinLength(15, (3, 5)),
    "min_length_12": p.MinLength(12, (3, 5)),
    "min_new_tokens_5_from_10": p.MinLength(5, (3, 5), start=10),
    "min_new_tokens_2_from_10": p.MinLength(2, (3, 5), start=10),
    "temperature_0.7": p.Temperature(0.7),
    "top_k_5": p.TopK(5),
    "top_k_1": p.TopK(1),
    "top_k_2_keep_3": p.TopK(2, 3),
    "top_p_0.8": p.TopP(0.8),
    "top_p_0.3": p.TopP(0.3),
    "top_p_0.05_keep_3": p.TopP(0.05, 3),
}
CHAIN = [p.RepetitionPenalty(1.2), p.NoRepeatNGram(2), p.Temperature(0.8), p.TopK(10), p.TopP(0.9)]
#: divisions may round differently per framework; bans (-inf) and kept scores are exact
PROCESSOR_RTOL = 1e-6


def through_chain(ids: Any, scores: Any, ops: Any) -> Any:
    """``scores`` after every processor of :data:`CHAIN`, with one framework's operations."""
    for processor in CHAIN:
        scores = processor(ids, scores, int(ids.shape[-1]), ops)
    return scores


def processor_golden() -> dict[str, np.ndarray]:
    return dict(np.load(DATA / "processors.npz"))


def checkpoint_folder(name: str) -> Path:
    return GOLDEN / MANIFEST["checkpoints"][name]


def sequences(name: str) -> dict[str, np.ndarray]:
    return dict(np.load(DATA / "sequences" / f"{name}.npz"))


def model_loader(auto_class: Any) -> Callable[[str], Any]:
    """``load(checkpoint)``: the golden checkpoint's model through ``auto_class``, loaded once per test module."""
    loaded: dict[str, Any] = {}

    def load(name: str) -> Any:
        if name not in loaded:
            loaded[name] = auto_class.from_pretrained(checkpoint_folder(name))
        return loaded[name]

    return load
