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

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import load_benchmark, reset_peak, status_mb  # noqa: E402


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


def save(root: Path, config, shard_mb: int) -> int:  # type: ignore[no-untyped-def]
    from modelport_flax.models import FlaxGPT2LMHeadModel

    FlaxGPT2LMHeadModel(config).save_pretrained(root, safe_serialization=False, max_shard_size=f"{shard_mb}MB")
    return len(list(root.glob("flax_model*.msgpack")))


if __name__ == "__main__":
    load_benchmark(__doc__, __file__, child, save,
                   ("modelport `from_pretrained(_do_init=False)`", "`flax.serialization.msgpack_restore` per shard"), "msgpack shards")
