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

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import best_of, reset_peak, status_mb  # noqa: E402


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


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--shard-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    from modelport import GPT2Config
    from modelport_torch.models import GPT2LMHeadModel

    root = Path(tempfile.mkdtemp(prefix="modelport-torch-load-"))
    try:
        config = GPT2Config(n_embd=args.width, n_layer=args.layers, n_head=16)
        torch.manual_seed(0)
        GPT2LMHeadModel(config).save_pretrained(root, max_shard_size=f"{args.shard_mb}MB")
        ours = best_of(__file__, args.repeat, "modelport", str(root))
        base = best_of(__file__, args.repeat, "baseline", str(root))
        shards = len(list(root.glob("model*.safetensors")))
        print(f"\nGPT-2 shape, {args.layers} layers x {args.width}, {ours['model_mb']:.0f} MiB float32 in {shards} shards "
              f"of <= {args.shard_mb} MB, best of {args.repeat}\n")
        print("| loader | load s | ratio to baseline | peak RSS growth MB | peak RSS / model size |")
        print("|---|---|---|---|---|")
        for name, r in (("modelport `from_pretrained`", ours), ("meta + `load_file` + `load_state_dict`", base)):
            print(f"| {name} | {r['seconds']:.2f} | {r['seconds'] / base['seconds']:.2f} | {r['rss_growth_mb']:.0f} "
                  f"| {r['rss_growth_mb'] / r['model_mb']:.2f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
