"""What the benchmark scripts share: peak-RSS marks and best-of-N child runs.

Each measurement runs in a fresh child process (the script re-run with
``--child``) after ``os.sync()``, so no run pays for another's imports,
caches or dirty pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def status_mb(field: str) -> float:
    """A ``/proc/self/status`` field (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> float:
    """Reset the kernel's peak-RSS mark (``clear_refs`` 5) and return the current RSS in MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")


def child_run(script: str, *args: str) -> dict:
    """Run ``script --child args...`` once, after ``os.sync()``; return the JSON it prints last."""
    os.sync()
    out = subprocess.run([sys.executable, script, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(script: str, repeat: int, *args: str) -> dict:
    """The fastest of ``repeat`` child runs, with the largest peak-RSS growth seen."""
    results = [child_run(script, *args) for _ in range(repeat)]
    best = min(results, key=lambda r: r["seconds"])
    return {**best, "rss_growth_mb": max(r["rss_growth_mb"] for r in results)}


def load_benchmark(doc: str, script: str, child, save, labels: tuple[str, str], what: str) -> None:  # type: ignore[no-untyped-def]
    """The shared driver of the model-load benchmarks (``torch_load.py``, ``flax_load.py``).

    ``child(mode, folder)`` loads once and returns seconds, peak-RSS growth and
    ``model_mb``; ``save(folder, config, shard_mb)`` writes the checkpoint and
    returns how many weight files it wrote; ``labels`` names the two loaders.
    """
    import argparse
    import shutil
    import tempfile

    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--shard-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from modelport import GPT2Config

    root = Path(tempfile.mkdtemp(prefix="modelport-load-bench-"))
    try:
        files = save(root, GPT2Config(n_embd=args.width, n_layer=args.layers, n_head=16), args.shard_mb)
        ours = best_of(script, args.repeat, "modelport", str(root))
        base = best_of(script, args.repeat, "baseline", str(root))
        print(f"\nGPT-2 shape, {args.layers} layers x {args.width}, {ours['model_mb']:.0f} MiB float32 in {files} {what} "
              f"of <= {args.shard_mb} MB, best of {args.repeat}\n")
        print("| loader | load s | ratio to baseline | peak RSS growth MB | peak RSS / model size |")
        print("|---|---|---|---|---|")
        for name, r in zip(labels, (ours, base)):
            print(f"| {name} | {r['seconds']:.2f} | {r['seconds'] / base['seconds']:.2f} | {r['rss_growth_mb']:.0f} "
                  f"| {r['rss_growth_mb'] / r['model_mb']:.2f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)
