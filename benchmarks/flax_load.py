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
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import best_of, reset_peak, status_mb  # noqa: E402


def child(mode: str, folder: str) -> dict:
    import jax
    from flax import serialization
    from flax.traverse_util import flatten_dict

    from modelport_flax.models import FlaxGPT2LMHeadModel

    jax.numpy.zeros(1).block_until_ready()  # backend initialised before the baseline mark
    base = reset_peak()
    start = time.perf_counter()
    if mode == "modelport":
        _, params = FlaxGPT2LMHeadModel.from_pretrained(folder, _do_init=False)
    else:
        params = {}
        for shard in sorted(Path(folder).glob("flax_model*.msgpack")):
            params.update(flatten_dict(serialization.msgpack_restore(shard.read_bytes())))
    leaves = jax.tree_util.tree_leaves(params)
    jax.block_until_ready(leaves)
    seconds = time.perf_counter() - start
    size_mb = sum(x.size * x.dtype.itemsize for x in leaves) / 2**20
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

    from modelport import GPT2Config
    from modelport_flax.models import FlaxGPT2LMHeadModel

    root = Path(tempfile.mkdtemp(prefix="modelport-flax-load-"))
    try:
        config = GPT2Config(n_embd=args.width, n_layer=args.layers, n_head=16)
        model = FlaxGPT2LMHeadModel(config)
        model.save_pretrained(root, safe_serialization=False, max_shard_size=f"{args.shard_mb}MB")
        del model
        ours = best_of(__file__, args.repeat, "modelport", str(root))
        base = best_of(__file__, args.repeat, "baseline", str(root))
        shards = len(list(root.glob("flax_model*.msgpack")))
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
