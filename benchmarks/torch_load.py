"""Loading a sharded ~500 MB checkpoint into the PyTorch adapter: time and peak memory.

    python benchmarks/torch_load.py [--layers 6] [--width 1024] [--shard-mb 100] [--repeat 3]

A GPT-2-shaped model (50,257-token vocabulary) is saved sharded with
``save_pretrained``; each measurement runs in a fresh child process after
``os.sync()``:

* modelport: ``GPT2LMHeadModel.from_pretrained(folder)``;
* baseline: the same model built on the meta device and moved to empty CPU
  memory (so neither side pays for random initialisation), then for every
  shard ``safetensors.torch.load_file`` and ``load_state_dict(strict=False)``.

Reports the best time of ``--repeat`` runs, its ratio to the baseline, and
peak RSS growth (the kernel's peak mark reset after imports) as a ratio to
the model's parameter bytes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import load_benchmark, reset_peak, status_mb  # noqa: E402


def child(mode: str, folder: str) -> dict:
    import torch
    from safetensors.torch import load_file

    from modelport import GPT2Config
    from modelport_torch.models import GPT2LMHeadModel

    config = GPT2Config.from_pretrained(folder)
    base = reset_peak()
    start = time.perf_counter()
    if mode == "modelport":
        model = GPT2LMHeadModel.from_pretrained(folder)
    else:
        with torch.device("meta"):
            model = GPT2LMHeadModel(config)
        model.to_empty(device="cpu")
        for shard in sorted(Path(folder).glob("model*.safetensors")):
            state = load_file(shard)
            model.load_state_dict(state, strict=False)
            del state
        model.tie_weights()
    seconds = time.perf_counter() - start
    size_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    return {"seconds": seconds, "rss_growth_mb": status_mb("VmHWM") - base, "model_mb": size_mb}


def save(root: Path, config, shard_mb: int) -> int:  # type: ignore[no-untyped-def]
    import torch

    from modelport_torch.models import GPT2LMHeadModel

    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(root, max_shard_size=f"{shard_mb}MB")
    return len(list(root.glob("model*.safetensors")))


if __name__ == "__main__":
    load_benchmark(__doc__, __file__, child, save,
                   ("modelport `from_pretrained`", "meta + `load_file` + `load_state_dict`"), "shards")
