"""``from_pretrained`` in PyTorch, TensorFlow and Flax: modelport against transformers 4.57.6, side by side.

    python benchmarks/load_vs_transformers.py [--rounds 5] [--cases small small-bin large bf16 tf-from-pt ...]
        [--transformers-python .nox/golden_check/bin/python] [--work DIR]

The checkpoints are written by transformers 4.57.6 (``save_pretrained`` of a randomly initialised
``GPT2LMHeadModel``, and of its TF and Flax classes for the native formats):

* ``small``: GPT-2 small (124M parameters, one 498 MB ``model.safetensors``), loaded in PyTorch;
* ``small-bin``: the same as ``pytorch_model.bin``;
* ``large``: GPT-2 shaped, 30 layers of width 1024 (1.7 GB float32) in 300 MB safetensors shards;
* ``bf16``: GPT-2 small saved in bfloat16 (249 MB) and loaded as float32: its baseline is a plain read
  of the file into fresh memory, not transformers;
* ``tf-from-pt``, ``tf-h5``: ``TFGPT2LMHeadModel`` from the PyTorch safetensors and from ``tf_model.h5``;
* ``flax-from-pt``, ``flax-msgpack``: ``FlaxGPT2LMHeadModel`` from the PyTorch safetensors and from
  ``flax_model.msgpack``.

Each round runs every loader once, alternating, each in a fresh process after ``os.sync()`` with a
warm page cache. A load is timed from the call to ``from_pretrained`` to the end of a touch of one
float in every 4 KiB page of every parameter (what using the model costs first); the model class
is imported before (``from transformers import GPT2LMHeadModel``), so neither side's module imports
count, while everything ``from_pretrained`` itself imports does. Peak RSS growth is measured from
after the imports (``clear_refs``). The figures are medians of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _measure import reset_peak, status_mb  # noqa: E402

_SMALL = {"layers": 12, "width": 768, "dtype": "float32", "shard": "10GB"}
CASES = {
    "small": {**_SMALL, "framework": "pt", "format": "safetensors"},
    "small-bin": {**_SMALL, "framework": "pt", "format": "bin"},
    "large": {"layers": 30, "width": 1024, "dtype": "float32", "shard": "300MB", "framework": "pt", "format": "safetensors"},
    "bf16": {**_SMALL, "dtype": "bfloat16", "framework": "pt", "format": "safetensors"},
    "tf-from-pt": {**_SMALL, "framework": "tf", "format": "safetensors", "folder": "small"},
    "tf-h5": {**_SMALL, "framework": "tf", "format": "h5"},
    "flax-from-pt": {**_SMALL, "framework": "flax", "format": "safetensors", "folder": "small"},
    "flax-msgpack": {**_SMALL, "framework": "flax", "format": "msgpack"},
}

MAKE = """
import sys, torch, transformers
layers, width, fmt, dtype, shard, out = sys.argv[1:]
torch.manual_seed(0)
config = transformers.GPT2Config(n_layer=int(layers), n_embd=int(width), n_head=max(1, int(width) // 64))
model = transformers.GPT2LMHeadModel(config).to(getattr(torch, dtype))
if fmt in ("h5", "msgpack"):  # the native formats, written by transformers' own TF and Flax classes
    model.save_pretrained(out + ".pt")
    cls = transformers.TFGPT2LMHeadModel if fmt == "h5" else transformers.FlaxGPT2LMHeadModel
    cls.from_pretrained(out + ".pt", from_pt=True).save_pretrained(out, max_shard_size=shard)
else:
    model.save_pretrained(out, safe_serialization=fmt == "safetensors", max_shard_size=shard)
"""


def touch(framework: str, model) -> float:  # type: ignore[no-untyped-def]
    """Read one float in every 4 KiB page of every weight (and return their sum, so nothing is skipped)."""
    import numpy as np

    if framework == "pt":
        total = 0.0
        for p in model.parameters():
            total += float(p.detach().reshape(-1)[:: max(1, 4096 // p.element_size())].float().sum())
        return total
    if framework == "tf":  # through TF ops: converting a variable to numpy copies it, which is not what using it costs
        import tensorflow as tf

        return float(sum(float(tf.reduce_sum(tf.reshape(tf.convert_to_tensor(w), [-1])[::1024])) for w in model.weights))
    else:
        import jax

        arrays = [np.asarray(leaf).reshape(-1) for leaf in jax.tree_util.tree_leaves(model.params)]
    return float(sum(a[::1024].sum() for a in arrays))


def model_class(loader: str, framework: str):  # type: ignore[no-untyped-def]
    """The class, imported before the clock starts, as ``from transformers import GPT2LMHeadModel`` does."""
    name = {"pt": "GPT2LMHeadModel", "tf": "TFGPT2LMHeadModel", "flax": "FlaxGPT2LMHeadModel"}[framework]
    module = "transformers" if loader == "transformers" else f"modelport_{'torch' if framework == 'pt' else framework}.models"
    return getattr(__import__(module, fromlist=[name]), name)


def child(loader: str, folder: str, dtype: str, framework: str = "pt") -> dict:
    import torch  # every side imports it before the clock: the PyTorch and from-PyTorch paths use it

    cls = model_class(loader, framework) if loader != "read" else None
    base = reset_peak()
    start = time.perf_counter()
    if loader == "read":  # a plain read of every weights file into fresh memory
        nbytes = 0
        for path in sorted(Path(folder).glob("model*.safetensors")):
            with open(path, "rb", buffering=0) as fh:
                buffer = bytearray(os.fstat(fh.fileno()).st_size)
                fh.readinto(buffer)
                nbytes += len(buffer)
        return {"seconds": time.perf_counter() - start, "rss_growth_mb": status_mb("VmHWM") - base, "bytes": nbytes}
    kwargs: dict = {"dtype": getattr(torch, dtype)} if framework == "pt" else {}
    if framework != "pt" and any(Path(folder).glob("model*.safetensors")):
        kwargs["from_pt"] = True
    model = cls.from_pretrained(folder, **kwargs)
    touch(framework, model)
    seconds = time.perf_counter() - start
    if framework == "pt":
        size = sum(p.numel() * p.element_size() for p in model.parameters())
    else:  # the float32 weights: the checkpoint's size
        size = sum(p.stat().st_size for p in Path(folder).iterdir() if p.suffix in (".safetensors", ".h5", ".msgpack"))
    return {"seconds": seconds, "rss_growth_mb": status_mb("VmHWM") - base, "bytes": size}


def run(python: str, loader: str, folder: Path, dtype: str, framework: str) -> dict:
    os.sync()
    done = subprocess.run([python, __file__, "--child", loader, str(folder), dtype, framework], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode:
        raise RuntimeError(f"{loader} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:6])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--transformers-python", default=str(ROOT / ".nox" / "golden_check" / "bin" / "python"))
    parser.add_argument("--work", default="/tmp/modelport-bench-torch")
    args = parser.parse_args()
    work = Path(args.work)
    rows = []
    for case in args.cases:
        spec = CASES[case]
        folder = work / spec.get("folder", case)
        if not folder.is_dir():
            subprocess.run([args.transformers_python, "-c", MAKE, str(spec["layers"]), str(spec["width"]), spec["format"],
                            spec["dtype"], spec["shard"], str(folder)], check=True)
        files = sorted(p for p in folder.iterdir() if p.name.startswith(("model", "pytorch_model", "tf_model", "flax_model"))
                       and "index" not in p.name)
        on_disk = sum(p.stat().st_size for p in files)
        for path in files:  # a warm page cache for every round, the first included
            with open(path, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        baseline = ("read", sys.executable) if case == "bf16" else ("transformers", args.transformers_python)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(run(sys.executable, "modelport", folder, "float32", spec["framework"]))
            theirs.append(run(baseline[1], baseline[0], folder, "float32", spec["framework"]))
        ratios = [a["seconds"] / b["seconds"] for a, b in zip(ours, theirs)]
        model_bytes = ours[0]["bytes"]
        row = {
            "case": case, "framework": spec["framework"], "files": len(files), "on_disk_mb": on_disk / 1e6, "baseline": baseline[0],
            "modelport_s": statistics.median(r["seconds"] for r in ours),
            "baseline_s": statistics.median(r["seconds"] for r in theirs),
            "ratio_median": statistics.median(ratios), "ratios": [round(r, 3) for r in ratios],
            "modelport_rss_x": max(r["rss_growth_mb"] for r in ours) * 2**20 / model_bytes,
            "baseline_rss_x": max(r["rss_growth_mb"] for r in theirs) * 2**20 / model_bytes,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| case | files | MB on disk | modelport s | baseline | baseline s | ratio (median of rounds) | peak RSS / model: "
          "modelport | baseline |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['files']} | {r['on_disk_mb']:,.0f} | {r['modelport_s']:.2f} | {r['baseline']} | "
              f"{r['baseline_s']:.2f} | {r['ratio_median']:.2f} | {r['modelport_rss_x']:.2f} | {r['baseline_rss_x']:.2f} |")


if __name__ == "__main__":
    main()
