"""Converting a ~1 GB sharded checkpoint between frameworks: marginal throughput and peak memory.

    python benchmarks/convert.py [--large-layers 16] [--small-layers 2] [--shard-mb 200] [--repeat 2]
                                 [--transformers-python /path/to/golden/venv/bin/python]

Two GPT-2-shaped float32 checkpoints (1024 wide, 50,257-token vocabulary) that
differ only in depth are written as PyTorch safetensors sharded at
``--shard-mb``. Each measurement runs in a fresh child process after
``os.sync()``:

* modelport: ``modelport.convert`` PyTorch -> TF h5, PyTorch -> Flax msgpack and
  TF h5 -> Flax msgpack (durable: every file and the folder fsynced). The child
  first imports the target adapter and builds the target's parameter tree (the
  fixed footprint), then resets the kernel's peak-RSS mark and converts;
* baseline: a durable copy of the same files (read, write, fsync), in the same
  kind of child.

Marginal throughput is (bytes large - bytes small) / (time large - time small),
so interpreter start, imports and tree building cancel; it is reported as a
ratio to the same figure for the durable copy (target: at least 0.5), twice:
the ratio of the best times of each kind over ``--repeat`` rounds, and the
median of the per-round ratios (each round runs conversions and copies seconds
apart, so a slow spell of the shared disk hits both). Peak RSS
above the fixed footprint is reported as a ratio to the largest output shard
(target: under 1.5). The fixed costs are reported too.

With ``--transformers-python`` (an interpreter with transformers 4.57.6, e.g.
the golden-file environment), the same conversions done by transformers
(``from_pretrained(..., from_pt=True)`` then ``save_pretrained``) run in the
same way, side by side, from the ``.bin`` copy of the checkpoint (transformers'
TF classes cannot read PyTorch safetensors).
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

sys.path.insert(0, str(Path(__file__).parent))
from _measure import child_run, reset_peak, status_mb  # noqa: E402

CASES = [("pt", "tf", "native"), ("pt", "flax", "native"), ("tf", "flax", "native")]


def child(mode: str, source: str, target: str, to: str, shard_mb: str) -> dict:
    if mode == "copy":
        base = reset_peak()
        start = time.perf_counter()
        Path(target).mkdir(parents=True)
        total = 0
        for path in sorted(Path(source).iterdir()):
            if path.is_file():
                shutil.copyfile(path, Path(target) / path.name)
                fd = os.open(Path(target) / path.name, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
                total += path.stat().st_size
        fd = os.open(target, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        return {"seconds": time.perf_counter() - start, "bytes": total, "fixed_mb": base,
                "peak_above_fixed_mb": status_mb("VmHWM") - base, "largest_shard_mb": 0}
    import modelport
    from modelport import AutoConfig
    from modelport.conversion.converter import _target_tree

    start = time.perf_counter()
    _target_tree(AutoConfig.from_pretrained(source), to)  # imports the adapter and builds the tree: the fixed part
    setup = time.perf_counter() - start
    fixed = reset_peak()
    report = modelport.convert(source, target, to=to, format="native", max_shard_size=f"{shard_mb}MB", progress=False)
    largest = max(p.stat().st_size for p in Path(target).iterdir() if p.suffix in (".h5", ".msgpack", ".bin", ".safetensors"))
    return {"seconds": report.seconds, "bytes": report.bytes, "fixed_mb": fixed, "setup_seconds": setup,
            "peak_above_fixed_mb": status_mb("VmHWM") - fixed, "largest_shard_mb": largest / 2**20}


TRANSFORMERS_CHILD = r"""
import json, sys, time, os
from pathlib import Path
def status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
source, target, to = sys.argv[1:4]
import transformers
cls = {"tf": transformers.TFGPT2LMHeadModel, "flax": transformers.FlaxGPT2LMHeadModel}[to]
if to == "tf":
    import tensorflow as tf; tf.zeros(1)
else:
    import jax; jax.numpy.zeros(1).block_until_ready()
Path("/proc/self/clear_refs").write_text("5")
fixed = status_mb("VmRSS")
start = time.perf_counter()
try:
    model = cls.from_pretrained(source, from_pt=True)
    model.save_pretrained(target, max_shard_size="200MB")
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
print(json.dumps({"seconds": time.perf_counter() - start, "fixed_mb": fixed, "peak_above_fixed_mb": status_mb("VmHWM") - fixed,
                  "error": error}))
"""


def make_checkpoints(root: Path, large: int, small: int, shard_mb: int, with_bin: bool) -> dict[str, Path]:
    """PyTorch safetensors (and .bin) checkpoints of two depths, plus TF h5 copies for the TF -> Flax case."""
    import modelport
    from modelport import GPT2Config
    from modelport.saving import save_checkpoint

    rng = __import__("numpy").random.default_rng(0)
    folders = {}
    for label, layers in (("large", large), ("small", small)):
        config = GPT2Config(n_embd=1024, n_layer=layers, n_head=16, architectures=["GPT2LMHeadModel"])
        shapes = {"transformer.wte.weight": (50257, 1024), "transformer.wpe.weight": (1024, 1024)}
        for i in range(layers):
            p = f"transformer.h.{i}."
            shapes.update({p + "ln_1.weight": (1024,), p + "ln_1.bias": (1024,), p + "attn.c_attn.weight": (1024, 3072),
                           p + "attn.c_attn.bias": (3072,), p + "attn.c_proj.weight": (1024, 1024), p + "attn.c_proj.bias": (1024,),
                           p + "ln_2.weight": (1024,), p + "ln_2.bias": (1024,), p + "mlp.c_fc.weight": (1024, 4096),
                           p + "mlp.c_fc.bias": (4096,), p + "mlp.c_proj.weight": (4096, 1024), p + "mlp.c_proj.bias": (1024,)})
        shapes.update({"transformer.ln_f.weight": (1024,), "transformer.ln_f.bias": (1024,)})
        from modelport.formats.base import LazyTensor

        tensors = [(n, LazyTensor("float32", s, lambda s=s: (rng.standard_normal(s, dtype="float32") * 0.02)))
                   for n, s in shapes.items()]
        folder = root / f"pt-{label}"
        save_checkpoint(folder, tensors, format="safetensors", framework="pt", max_shard_size=f"{shard_mb}MB", durable=False)
        config.save_pretrained(folder)
        folders[f"pt-{label}"] = folder
        modelport.convert(folder, root / f"tf-{label}", to="tf", format="native", max_shard_size=f"{shard_mb}MB",
                          progress=False, durable=False)
        folders[f"tf-{label}"] = root / f"tf-{label}"
        if with_bin:
            modelport.convert(folder, root / f"bin-{label}", to="pt", format="native", max_shard_size=f"{shard_mb}MB",
                              progress=False, durable=False)
            folders[f"bin-{label}"] = root / f"bin-{label}"
    return folders


def once(script: str, *args: str) -> dict:
    target = Path(args[2])
    shutil.rmtree(target, ignore_errors=True)
    try:
        return child_run(script, *args)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def marginal_mb_s(large: dict, small: dict) -> float:
    return (large["bytes"] - small["bytes"]) / (large["seconds"] - small["seconds"]) / 1e6


def measure(script: str, repeat: int, large: str, small: str, out: Path, to: str, shard_mb: int) -> dict:
    """``repeat`` rounds of (convert large, convert small, copy large, copy small), each in a fresh child.

    The rounds interleave conversions and copies, so each round's ratio compares runs made
    seconds apart on the same disk; the median of those ratios is the robust figure, the
    ratio of the best times of each kind the optimistic one.
    """
    rounds = []
    for _ in range(repeat):
        runs = {label: once(script, "convert", src, str(out / "out"), to, str(shard_mb))
                for label, src in (("large", large), ("small", small))}
        copies = {
            label: once(script, "copy", src, str(out / "copy"), to, str(shard_mb)) for label, src in (("large", large), ("small", small))
        }
        rounds.append((runs, copies))
    best = {
        kind: {label: min((r[i][label] for r in rounds), key=lambda x: x["seconds"]) for label in ("large", "small")}
        for i, kind in enumerate(("convert", "copy"))
    }
    ratios = sorted(marginal_mb_s(r[0]["large"], r[0]["small"]) / marginal_mb_s(r[1]["large"], r[1]["small"]) for r in rounds)
    median = ratios[len(ratios) // 2] if len(ratios) % 2 else (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
    peak = max(r[0]["large"]["peak_above_fixed_mb"] for r in rounds)
    return {"best": best, "median_ratio": median, "ratios": ratios, "peak_above_fixed_mb": peak}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:7])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-layers", type=int, default=16)
    parser.add_argument("--small-layers", type=int, default=2)
    parser.add_argument("--shard-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--transformers-python", default=None)
    parser.add_argument("--root", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.root or tempfile.mkdtemp(prefix="modelport-convert-bench-"))
    script = str(Path(__file__).resolve())
    try:
        folders = make_checkpoints(root, args.large_layers, args.small_layers, args.shard_mb, bool(args.transformers_python))
        size = {k: sum(p.stat().st_size for p in v.iterdir() if p.is_file()) for k, v in folders.items()}
        print(
            f"\nGPT-2 shape 1024 wide, {args.large_layers} vs {args.small_layers} layers: PyTorch safetensors "
            f"{size['pt-large'] / 1e9:.2f} GB vs {size['pt-small'] / 1e9:.2f} GB, shards of <= {args.shard_mb} MB; "
            f"{args.repeat} interleaved rounds, fresh process each\n"
        )
        print(
            "| conversion | large s | small s | marginal MB/s | durable copy marginal MB/s | ratio of bests | "
            "median ratio (rounds) | fixed RSS MB | peak RSS above fixed MB | largest output shard MB | peak / shard |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for source, to, fmt in CASES:
            m = measure(script, args.repeat, str(folders[f"{source}-large"]), str(folders[f"{source}-small"]), root, to, args.shard_mb)
            runs, copies = m["best"]["convert"], m["best"]["copy"]
            marginal, copy = marginal_mb_s(runs["large"], runs["small"]), marginal_mb_s(copies["large"], copies["small"])
            large = runs["large"]
            print(
                f"| {source} -> {to} ({fmt}) | {large['seconds']:.2f} | {runs['small']['seconds']:.2f} | {marginal:.0f} | {copy:.0f} "
                f"| {marginal / copy:.2f} | {m['median_ratio']:.2f} ({', '.join(f'{r:.2f}' for r in m['ratios'])}) "
                f"| {large['fixed_mb']:.0f} (tree {large['setup_seconds']:.1f} s) "
                f"| {m['peak_above_fixed_mb']:.0f} | {large['largest_shard_mb']:.0f} "
                f"| {m['peak_above_fixed_mb'] / large['largest_shard_mb']:.2f} |"
            )
        if args.transformers_python:
            print("\ntransformers 4.57.6, same machine, from the .bin copy (`from_pretrained(from_pt=True)` + `save_pretrained`):\n")
            print("| conversion | large s | fixed RSS MB | peak RSS above fixed MB | outcome |")
            print("|---|---|---|---|---|")
            for to in ("tf", "flax"):
                os.sync()
                done = subprocess.run(
                    [args.transformers_python, "-c", TRANSFORMERS_CHILD, str(folders["bin-large"]), str(root / f"hf-{to}"), to],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                )
                lines = [line for line in done.stdout.strip().splitlines() if line.startswith("{")]
                if not lines:
                    print(
                        f"| pt -> {to} | - | - | - | crashed: "
                        f"{done.stderr.strip().splitlines()[-1][:100] if done.stderr else done.returncode} |"
                    )
                    continue
                r = json.loads(lines[-1])
                print(f"| pt -> {to} | {r['seconds']:.2f} | {r['fixed_mb']:.0f} | {r['peak_above_fixed_mb']:.0f} | {r['error'] or 'ok'} |")
                shutil.rmtree(root / f"hf-{to}", ignore_errors=True)
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
