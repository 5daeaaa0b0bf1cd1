"""Loading a sharded ~500 MB checkpoint into the TF adapter: time and peak memory.

    python benchmarks/tf_load.py [--layers 6] [--width 1024] [--shard-mb 100] [--repeat 3]

A GPT-2-shaped model (50,257-token vocabulary) is saved as sharded
``tf_model.h5`` with ``save_pretrained(safe_serialization=False)``; each
measurement runs in a fresh child process after ``os.sync()``, with the
kernel's peak-RSS mark reset after imports:

* modelport: ``TFGPT2LMHeadModel.from_pretrained(folder)`` (builds the model,
  then assigns the weights one tensor at a time);
* baseline: the same model built the same way, then every dataset of every
  shard read with h5py and assigned by name (what transformers' TF loader does
  per shard with ``batch_set_value``).

Reports the best time, its ratio to the baseline, and peak RSS growth as a
ratio to the model's parameter bytes (target: under 1.5x).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import load_benchmark, reset_peak, status_mb  # noqa: E402


def child(mode: str, folder: str) -> dict:
    import h5py
    import numpy as np

    from modelport import GPT2Config
    from modelport_tf.models import TFGPT2LMHeadModel

    base = reset_peak()
    start = time.perf_counter()
    if mode == "modelport":
        model = TFGPT2LMHeadModel.from_pretrained(folder)
    else:
        model = TFGPT2LMHeadModel(GPT2Config.from_pretrained(folder))
        variables = model.tf_weights()
        for shard in sorted(Path(folder).glob("tf_model*.h5")):
            with h5py.File(shard, "r") as f:
                def assign(name, node):  # type: ignore[no-untyped-def]
                    if isinstance(node, h5py.Dataset) and name in variables:
                        variables[name].assign(np.asarray(node))
                f.visititems(assign)
    seconds = time.perf_counter() - start
    size_mb = sum(int(np.prod(v.shape)) * 4 for v in model.tf_weights().values()) / 2**20
    return {"seconds": seconds, "rss_growth_mb": status_mb("VmHWM") - base, "model_mb": size_mb}


def save(root: Path, config, shard_mb: int) -> int:  # type: ignore[no-untyped-def]
    from modelport_tf.models import TFGPT2LMHeadModel

    TFGPT2LMHeadModel(config).save_pretrained(root, safe_serialization=False, max_shard_size=f"{shard_mb}MB")
    return len(list(root.glob("tf_model*.h5")))


if __name__ == "__main__":
    load_benchmark(__doc__, __file__, child, save,
                   ("modelport `from_pretrained`", "build + h5py read + assign per shard"), "h5 shards")
