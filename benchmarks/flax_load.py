"""Loading a ~500 MB checkpoint into the Flax adapter with ``_do_init=False``: peak memory and time.

    python benchmarks/flax_load.py [--layers 6] [--width 1024] [--shard-mb 100] [--repeat 3]

A GPT-2-shaped checkpoint (50,257-token vocabulary) is written as sharded
``flax_model.msgpack``; each load runs in a fresh child process after
``os.sync()``, with the kernel's peak-RSS mark reset after imports:

* modelport: ``FlaxGPT2LMHeadModel.from_pretrained(folder, _do_init=False)``;
* baseline: flax's own ``flax.serialization.msgpack_restore`` of every shard
  (each file read whole, as transformers' Flax loader does), merged into one tree.

Reports the best time, its ratio to the baseline, and peak RSS growth as a
ratio to the parameters' bytes (target: under 1.3x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def child(mode: str, folder: str) -> dict:
    import jax
    from flax import serialization
    from flax.traverse_util import flatten_dict

    from modelport_flax.models import FlaxGPT2LMHeadModel

    jax.numpy.zeros(1).block_until_ready()  # backend initialised before the baseline mark
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_mb("VmRSS")
    start = time.perf_counter()
    if mode == "modelport":
        _, params = FlaxGPT2LMHeadModel.from_pretrained(folder, _do_init=False)
    else:
        params = {}
        for shard in sorted(Path(folder).glob("flax_model-*.msgpack")):
            params.update(flatten_dict(serialization.msgpack_restore(shard.read_bytes())))
    leaves = jax.tree_util.tree_leaves(params)
    jax.block_until_ready(leaves)
    seconds = time.perf_counter() - start
    size_mb = sum(x.size * x.dtype.itemsize for x in leaves) / 2**20
    return {"seconds": seconds, "rss_growth_mb": _status_mb("VmHWM") - base, "model_mb": size_mb}


def run(mode: str, folder: Path, repeat: int) -> dict:
    results = []
    for _ in range(repeat):
        os.sync()
        out = subprocess.run([sys.executable, __file__, "--child", mode, str(folder)], check=True, capture_output=True, text=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(results, key=lambda r: r["seconds"])
    return {**best, "rss_growth_mb": max(r["rss_growth_mb"] for r in results)}


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

    from modelport import GPT2Config
    from modelport_flax.models import FlaxGPT2LMHeadModel

    root = Path(tempfile.mkdtemp(prefix="modelport-flax-load-"))
    try:
        config = GPT2Config(n_embd=args.width, n_layer=args.layers, n_head=16)
        model = FlaxGPT2LMHeadModel(config)
        model.save_pretrained(root, safe_serialization=False, max_shard_size=f"{args.shard_mb}MB")
        del model
        ours = run("modelport", root, args.repeat)
        base = run("baseline", root, args.repeat)
        shards = len(list(root.glob("flax_model-*.msgpack")))
        print(f"\nGPT-2 shape, {args.layers} layers x {args.width}, {ours['model_mb']:.0f} MiB float32 in {shards} msgpack shards "
              f"of <= {args.shard_mb} MB, best of {args.repeat}\n")
        print("| loader | load s | ratio to baseline | peak RSS growth MB | peak RSS / parameter bytes |")
        print("|---|---|---|---|---|")
        for name, r in (("modelport `from_pretrained(_do_init=False)`", ours), ("`flax.serialization.msgpack_restore` per shard", base)):
            print(f"| {name} | {r['seconds']:.2f} | {r['seconds'] / base['seconds']:.2f} | {r['rss_growth_mb']:.0f} "
                  f"| {r['rss_growth_mb'] / r['model_mb']:.2f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
