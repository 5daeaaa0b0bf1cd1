"""Golden configs of the Llama family, written by transformers 4.57.6 (``nox -s golden_configs``).

For each case: the keyword arguments, and what transformers makes of them:
``to_dict()``, ``to_diff_dict()`` and the ``config.json`` text ``save_pretrained``
writes. The tests build the same configs in modelport and compare.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import transformers

OUT = Path(__file__).resolve().parent / "data" / "configs" / "llama-family.json"
LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 64, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0}
CASES = [
    ("llama", {}),
    ("llama", {"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "rope_scaling": LLAMA3}),
    ("llama", {"rope_scaling": {"type": "linear", "factor": 2.0}, "tie_word_embeddings": True, "head_dim": 32}),
    ("llama", {"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}, "attention_bias": True, "mlp_bias": True}),
    ("llama", {"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32, "beta_fast": 16.0}}),
    ("mistral", {}),
    ("mistral", {"sliding_window": 8, "num_key_value_heads": None, "head_dim": 16, "tie_word_embeddings": True}),
    ("mistral", {"sliding_window": None}),
    ("qwen2", {}),
    ("qwen2", {"num_hidden_layers": 4, "use_sliding_window": True, "max_window_layers": 2, "sliding_window": 8}),
    ("qwen2", {"num_hidden_layers": 2, "layer_types": ["sliding_attention", "full_attention"], "tie_word_embeddings": True}),
    ("gemma", {}),
    ("gemma", {"hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": False, "head_dim": 16, "pad_token_id": None}),
]


def main() -> None:
    cases = []
    for model_type, kwargs in CASES:
        config = transformers.AutoConfig.for_model(model_type, **json.loads(json.dumps(kwargs)))
        with tempfile.TemporaryDirectory() as folder:
            config.save_pretrained(folder)
            saved = (Path(folder) / "config.json").read_text()
        cases.append({"model_type": model_type, "kwargs": kwargs, "to_dict": config.to_dict(), "to_diff_dict": config.to_diff_dict(),
                      "config_json": saved})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"transformers": transformers.__version__, "cases": cases}, indent=1, sort_keys=True) + "\n")
    print(f"{len(cases)} cases -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
