"""Golden data for text generation, written by transformers 4.57.6 (``nox -s golden_generation``).

* ``configs/<name>/generation_config.json``: generation configs as transformers saves them, which modelport must read
  and write back byte for byte.
* ``processors.npz``: fixed score arrays and token ids, and what each of transformers' logits processors and warpers
  makes of them.
* ``sequences/<checkpoint>.npz``: token ids transformers' PyTorch ``generate`` writes from the golden GPT-2 and
  Llama-family checkpoints, greedy and beam search, on a left-padded batch of 2, with the greedy step scores.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import GenerationConfig
from transformers.generation import logits_process as lp

DATA = Path(__file__).resolve().parent / "data"
OUT = DATA / "generation"
NEW_TOKENS = 24
PROMPT, PAD = 8, 3  # the second row is left-padded by PAD tokens

CONFIGS = {
    "from-model-config": lambda: GenerationConfig.from_model_config(transformers.GPT2Config()),
    "sampling": lambda: GenerationConfig(do_sample=True, temperature=0.7, top_k=20, top_p=0.9, repetition_penalty=1.1,
                                         max_new_tokens=32, eos_token_id=[2, 7], pad_token_id=0, bos_token_id=1),
    "beams": lambda: GenerationConfig(num_beams=4, length_penalty=0.8, early_stopping=True, num_return_sequences=2,
                                      no_repeat_ngram_size=3, max_length=64, min_new_tokens=2, eos_token_id=2),
    "chat": lambda: GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2),
    "extra-field": lambda: GenerationConfig(max_new_tokens=8, custom_setting={"a": [1, 2]}),
    "outputs": lambda: GenerationConfig(return_dict_in_generate=True, output_scores=True, output_logits=True),
}

#: checkpoints to generate from: name -> (folder, pad token id for the batch)
CHECKPOINTS = {
    "gpt2": (DATA / "gpt2" / "pt-safetensors", 0),
    **{name: (DATA / "llama-family" / name / "pt-safetensors", 0)
       for name in ("llama", "llama-tied", "mistral", "mistral-tied", "qwen2", "qwen2-untied", "gemma", "gemma-untied",
                    "llama-yarn", "llama-dynamic")},
}

#: the searches run on each checkpoint: name -> generate() arguments
SEARCHES = {
    "greedy": dict(do_sample=False, num_beams=1),
    "beam": dict(do_sample=False, num_beams=3, num_return_sequences=2, length_penalty=1.0, early_stopping=False),
    "beam-early": dict(do_sample=False, num_beams=4, num_return_sequences=1, length_penalty=0.7, early_stopping=True),
    "greedy-penalties": dict(do_sample=False, num_beams=1, repetition_penalty=1.3, no_repeat_ngram_size=2, min_new_tokens=4),
}


def write_configs() -> None:
    for name, make in CONFIGS.items():
        folder = OUT / "configs" / name
        shutil.rmtree(folder, ignore_errors=True)
        make().save_pretrained(folder)


def write_processors() -> None:
    rng = np.random.default_rng(7)
    scores = (rng.normal(size=(2, 30)) * 3).astype(np.float32)
    ids = rng.integers(0, 30, size=(2, 12))
    ids[0, 4:7] = ids[0, 9:12] = [5, 6, 7]  # repeated n-grams, so that no_repeat_ngram bans something
    ids[1, 2:4] = ids[1, 10:12] = [3, 3]
    torch_ids, torch_scores = torch.from_numpy(ids), torch.from_numpy(scores)
    cases = {
        "repetition_penalty_1.3": lp.RepetitionPenaltyLogitsProcessor(1.3),
        "repetition_penalty_0.7": lp.RepetitionPenaltyLogitsProcessor(0.7),
        "no_repeat_ngram_1": lp.NoRepeatNGramLogitsProcessor(1),
        "no_repeat_ngram_2": lp.NoRepeatNGramLogitsProcessor(2),
        "no_repeat_ngram_3": lp.NoRepeatNGramLogitsProcessor(3),
        "min_length_15": lp.MinLengthLogitsProcessor(15, [3, 5]),
        "min_length_12": lp.MinLengthLogitsProcessor(12, [3, 5]),
        "min_new_tokens_5_from_10": lp.MinNewTokensLengthLogitsProcessor(10, 5, [3, 5]),
        "min_new_tokens_2_from_10": lp.MinNewTokensLengthLogitsProcessor(10, 2, [3, 5]),
        "temperature_0.7": lp.TemperatureLogitsWarper(0.7),
        "top_k_5": lp.TopKLogitsWarper(5),
        "top_k_1": lp.TopKLogitsWarper(1),
        "top_k_2_keep_3": lp.TopKLogitsWarper(2, min_tokens_to_keep=3),
        "top_p_0.8": lp.TopPLogitsWarper(0.8),
        "top_p_0.3": lp.TopPLogitsWarper(0.3),
        "top_p_0.05_keep_3": lp.TopPLogitsWarper(0.05, min_tokens_to_keep=3),
    }
    out = {"scores": scores, "ids": ids}
    for name, processor in cases.items():
        out[name] = processor(torch_ids, torch_scores.clone()).numpy()
    chain = lp.LogitsProcessorList([lp.RepetitionPenaltyLogitsProcessor(1.2), lp.NoRepeatNGramLogitsProcessor(2),
                                    lp.TemperatureLogitsWarper(0.8), lp.TopKLogitsWarper(10), lp.TopPLogitsWarper(0.9)])
    out["chain"] = chain(torch_ids, torch_scores.clone()).numpy()
    np.savez(OUT / "processors.npz", **out)


def prompt(vocab: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    ids = rng.integers(3, vocab, size=(2, PROMPT))
    mask = np.ones_like(ids)
    ids[1, :PAD], mask[1, :PAD] = pad, 0
    return ids, mask


def write_sequences() -> None:
    folder = OUT / "sequences"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (checkpoint, pad) in CHECKPOINTS.items():
        out = {}
        for search, arguments in SEARCHES.items():
            # a fresh model each time: transformers' dynamic NTK rotary embedding keeps the longest length it has seen
            # across calls, so a search run after another would depend on it
            model = transformers.AutoModelForCausalLM.from_pretrained(checkpoint).eval()
            ids, mask = prompt(model.config.vocab_size, pad)
            out.update(input_ids=ids, attention_mask=mask)
            with torch.no_grad():
                result = model.generate(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), max_new_tokens=NEW_TOKENS,
                                        pad_token_id=pad, return_dict_in_generate=True, output_scores=True,
                                        **arguments)
            out[f"{search}/sequences"] = result.sequences.numpy()
            if search == "greedy":
                out["greedy/scores"] = torch.stack(result.scores, 1).numpy()  # [batch, step, vocab]
            if "beam" in search:
                out[f"{search}/sequences_scores"] = result.sequences_scores.numpy()
        np.savez(folder / f"{name}.npz", **out)
        print(name, {k: v.shape for k, v in out.items()})


def main(parts: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for part, write in (("configs", write_configs), ("processors", write_processors), ("sequences", write_sequences)):
        if not parts or part in parts:
            write()
    (OUT / "manifest.json").write_text(json.dumps({
        "transformers": transformers.__version__, "torch": torch.__version__, "new_tokens": NEW_TOKENS,
        "searches": SEARCHES, "checkpoints": {k: str(v[0].relative_to(DATA)) for k, v in CHECKPOINTS.items()},
    }, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
