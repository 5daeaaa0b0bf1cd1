"""Loading into TF under a ``MirroredStrategy`` of N logical CPUs: peak memory against N copies of the model.

    python benchmarks/tf_strategy_load.py FOLDER [--replicas 2]

Each load runs in a fresh child (TF fixes its logical devices at start), its peak-RSS mark reset after imports.
A strategy's variables hold one copy per replica, so N x the model is the floor; a load that built random
weights first, or kept the checkpoint's arrays beside the variables, would show more.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import reset_peak, status_mb  # noqa: E402


def child(folder: str, replicas: int) -> dict:
    import tensorflow as tf

    if replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    from modelport_tf import TFAutoModelForCausalLM

    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)]) if replicas > 1 else None
    tf.zeros(1)
    base = reset_peak()
    start = time.perf_counter()
    if strategy is not None:
        with strategy.scope():
            model = TFAutoModelForCausalLM.from_pretrained(folder)
    else:
        model = TFAutoModelForCausalLM.from_pretrained(folder)
    seconds = time.perf_counter() - start
    model_mb = sum(v.numpy().nbytes for v in model.weights) / 2**20 if strategy is None else None
    return {"seconds": seconds, "rss_growth_mb": status_mb("VmHWM") - base, "model_mb": model_mb}


def main() -> None:
    if sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
        return
    folder = sys.argv[1]
    replicas = int(sys.argv[sys.argv.index("--replicas") + 1]) if "--replicas" in sys.argv else 2
    runs = {}
    for n in (1, replicas):
        out = subprocess.run([sys.executable, __file__, "--child", folder, str(n)], check=True, capture_output=True, text=True)
        runs[n] = json.loads(out.stdout.strip().splitlines()[-1])
    model_mb = runs[1]["model_mb"]
    print(f"\n{model_mb:.0f} MiB of weights\n\n| replicas | load s | peak RSS growth MB | / model |\n|---|---|---|---|")
    for n, r in runs.items():
        print(f"| {n} | {r['seconds']:.1f} | {r['rss_growth_mb']:.0f} | {r['rss_growth_mb'] / model_mb:.2f} |")


if __name__ == "__main__":
    main()
