"""Converting GPT-2- or Llama-shaped checkpoints between frameworks, the whole command timed: throughput and depth scaling.

    python benchmarks/convert.py [--arch gpt2|llama] [--layers 1 12 24] [--shard-mb 100] [--repeat 3]
                                 [--cases pt:tf pt:flax tf:flax flax:tf tf:pt flax:pt tf:pt:safetensors]
                                 [--transformers-python /path/to/golden/venv/bin/python]
                                 [--cold-trees] [--json runs.json] [--root FOLDER]

Checkpoints 1024 wide (``--arch``: GPT-2 with a 50,257-token vocabulary, or Llama with
grouped-query attention and a 32,000-token vocabulary) that differ only in depth
are written as PyTorch safetensors sharded at ``--shard-mb`` (and converted
once, untimed, to TF h5 and Flax msgpack for the other sources). Every
measurement is a whole command as a user runs it, in a fresh process after
``os.sync()``:

* modelport: ``modelport convert SRC OUT --to X --format native --max-shard-size
  ...`` (a case ``source:target:safetensors`` writes safetensors), durable:
  every file and the folder fsynced. Interpreter start, the framework import,
  the target's parameter tree, reading, transforming and writing are all
  inside the time. The parent polls OUT every 5 ms and notes
  when the first byte of weights appears (the time before the first byte);
  the child's peak RSS is its ``VmHWM``, read at each poll. The conversions
  share a tree cache (``MODELPORT_CACHE``) warmed by one untimed conversion,
  as a user's second conversion of an architecture finds it; with
  ``--cold-trees`` each gets an empty one (the target's framework is then
  imported and its tree built inside the time);
* baseline: a durable copy of the same files (read, write, fsync of each file
  and the folder) by a fresh Python process.

Reported per case and depth: the whole command's seconds, the seconds before
the first byte of weights, peak RSS. Then the marginal throughput between
consecutive depths, (bytes deep - bytes shallow) / (seconds deep - seconds
shallow), as a ratio to the durable copy's (target: at least 0.5), as the
median of per-round ratios (each round runs conversions and copies seconds
apart, so a slow spell of the shared disk hits both); and the spread of the
time before the first byte across depths, max / min of the medians (target:
within 20%, i.e. at most 1.2).

With ``--transformers-python`` (an interpreter with transformers 4.57.6, e.g.
the golden-file environment), transformers' own conversion of the deepest
checkpoint (``from_pretrained(..., from_pt=True)`` then ``save_pretrained``,
from the ``.bin`` copy: its TF classes cannot read PyTorch safetensors) runs
side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".h5", ".msgpack", ".bin")
COPY = r"""
import os, shutil, sys
from pathlib import Path
source, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir(parents=True)
for path in sorted(source.iterdir()):
    if path.is_file():
        shutil.copyfile(path, target / path.name)
        fd = os.open(target / path.name, os.O_RDONLY); os.fsync(fd); os.close(fd)
fd = os.open(target, os.O_RDONLY); os.fsync(fd); os.close(fd)
"""


def command(argv: list[str], out: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``argv`` to completion in a fresh process: wall seconds, seconds before the first weights byte in ``out``,
    peak RSS (MiB), after ``os.sync()``."""
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    first, peak = None, 0.0
    while True:
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if first is None and out.is_dir() and any(p.suffix in WEIGHT_SUFFIXES and p.stat().st_size for p in _files(out)):
            first = time.perf_counter() - start
        peak = max(peak, _peak_mb(proc.pid))
        time.sleep(0.005)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else status}")
    written = sum(p.stat().st_size for p in _files(out) if p.suffix in WEIGHT_SUFFIXES)
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "first_byte": first if first is not None else seconds, "peak_mb": peak, "bytes": written}


def _peak_mb(pid: int) -> float:
    """The child's peak RSS so far (``VmHWM``; wait4's ``ru_maxrss`` would count the parent's memory at fork)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _files(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_file()]
    except FileNotFoundError:
        return []


TRANSFORMERS_CHILD = r"""
import json, sys, time, os
from pathlib import Path
def status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
source, target, to = sys.argv[1:4]
import transformers
cls = {"tf": transformers.TFAutoModelForCausalLM, "flax": transformers.FlaxAutoModelForCausalLM}[to]
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


def gpt2_shapes(layers: int) -> tuple[Any, dict[str, tuple[int, ...]]]:
    """GPT-2 1024 wide (16 heads), 50,257 tokens, tied head."""
    from modelport import GPT2Config

    config = GPT2Config(n_embd=1024, n_layer=layers, n_head=16, architectures=["GPT2LMHeadModel"])
    shapes = {"transformer.wte.weight": (50257, 1024), "transformer.wpe.weight": (1024, 1024)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        shapes.update({p + "ln_1.weight": (1024,), p + "ln_1.bias": (1024,), p + "attn.c_attn.weight": (1024, 3072),
                       p + "attn.c_attn.bias": (3072,), p + "attn.c_proj.weight": (1024, 1024), p + "attn.c_proj.bias": (1024,),
                       p + "ln_2.weight": (1024,), p + "ln_2.bias": (1024,), p + "mlp.c_fc.weight": (1024, 4096),
                       p + "mlp.c_fc.bias": (4096,), p + "mlp.c_proj.weight": (4096, 1024), p + "mlp.c_proj.bias": (1024,)})
    shapes.update({"transformer.ln_f.weight": (1024,), "transformer.ln_f.bias": (1024,)})
    return config, shapes


def llama_shapes(layers: int) -> tuple[Any, dict[str, tuple[int, ...]]]:
    """Llama 1024 wide, 16 heads and 4 key/value heads, intermediate 2816, 32,000 tokens, untied head."""
    from modelport import LlamaConfig

    config = LlamaConfig(hidden_size=1024, intermediate_size=2816, num_hidden_layers=layers, num_attention_heads=16,
                         num_key_value_heads=4, vocab_size=32000, architectures=["LlamaForCausalLM"])
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (32000, 1024)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes.update({p + "self_attn.q_proj.weight": (1024, 1024), p + "self_attn.k_proj.weight": (256, 1024),
                       p + "self_attn.v_proj.weight": (256, 1024), p + "self_attn.o_proj.weight": (1024, 1024),
                       p + "mlp.gate_proj.weight": (2816, 1024), p + "mlp.up_proj.weight": (2816, 1024),
                       p + "mlp.down_proj.weight": (1024, 2816), p + "input_layernorm.weight": (1024,),
                       p + "post_attention_layernorm.weight": (1024,)})
    shapes.update({"model.norm.weight": (1024,), "lm_head.weight": (32000, 1024)})
    return config, shapes


SHAPES = {"gpt2": gpt2_shapes, "llama": llama_shapes, "gpt-sw3": gpt2_shapes}
#: architectures modelport has no model class for, benchmarked with the tensors of one it has: the sources are made
#: with that one's adapters, then their config.json is relabelled (GPT-SW3 is GPT-2's layout under its own model_type),
#: so converting into PyTorch goes by names and the architecture's table alone
RELABEL = {"gpt-sw3": "gpt-sw3"}


def make_checkpoints(root: Path, arch: str, depths: list[int], shard_mb: int, sources: set[str],
                     with_bin: bool) -> dict[tuple[str, int], Path]:
    """PyTorch safetensors checkpoints at each depth, and TF h5 / Flax msgpack copies when those are sources."""
    import modelport
    from modelport.formats.base import LazyTensor
    from modelport.saving import save_checkpoint

    rng = __import__("numpy").random.default_rng(0)
    folders = {}
    for layers in depths:
        config, shapes = SHAPES[arch](layers)
        tensors = [(n, LazyTensor("float32", s, lambda s=s: (rng.standard_normal(s, dtype="float32") * 0.02))) for n, s in shapes.items()]
        folder = root / f"{arch}-{shard_mb}mb-pt-{layers}"
        if not (folder / "config.json").is_file():  # a kept --root reuses the checkpoints of an earlier run
            save_checkpoint(folder, tensors, format="safetensors", framework="pt", max_shard_size=f"{shard_mb}MB", durable=False)
            config.save_pretrained(folder)
        folders[("pt", layers)] = folder
        for other in sorted(sources - {"pt"}) + (["bin"] if with_bin else []):
            target = root / f"{arch}-{shard_mb}mb-{other}-{layers}"
            if not (target / "config.json").is_file():
                modelport.convert(folder, target, to="pt" if other == "bin" else other, format="native",
                                  max_shard_size=f"{shard_mb}MB", progress=False, durable=False, overwrite=True)
                if arch in RELABEL:
                    _relabel(target / "config.json", RELABEL[arch])
            folders[(other, layers)] = target
    return folders


def _relabel(path: Path, model_type: str) -> None:
    document = json.loads(path.read_text())
    document["model_type"] = model_type
    path.write_text(json.dumps(document, indent=2))


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(a / b for a, b in pairs)


def marginal(deep: dict, shallow: dict) -> float:
    return (deep["bytes"] - shallow["bytes"]) / (deep["seconds"] - shallow["seconds"]) / 1e6


def _throughput(runs: list[dict]) -> float:
    """MB/s from the least-squares slope of whole-command seconds against bytes written."""
    slope = statistics.linear_regression([r["bytes"] for r in runs], [r["seconds"] for r in runs]).slope
    return 1 / slope / 1e6


def _streamed(deep: dict, shallow: dict) -> float:
    """Marginal MB/s of the part of each command after its first byte of weights."""
    seconds = (deep["seconds"] - deep["first_byte"]) - (shallow["seconds"] - shallow["first_byte"])
    return (deep["bytes"] - shallow["bytes"]) / seconds / 1e6


def measure_case(source: str, to: str, fmt: str, folders: dict, depths: list[int], repeat: int, shard_mb: int, out: Path,
                 trees: Path | None) -> dict:
    """``repeat`` rounds; in each, every depth converted and copied (fresh processes, interleaved). ``trees``: the
    tree cache every conversion shares (warmed by an untimed first conversion), or None for an empty one each time."""
    cli = str(Path(sys.executable).with_name("modelport"))
    argv = [cli, "convert", "SRC", str(out), "--to", to, "--format", fmt, "--max-shard-size", f"{shard_mb}MB", "--no-progress"]
    for depth in depths if trees is not None else []:  # one tree per depth up to the two layers built, then one for all
        command([a if a != "SRC" else str(folders[(source, depth)]) for a in argv], out, {"MODELPORT_CACHE": str(trees)})
    rounds = []
    for _ in range(repeat):
        runs, copies = {}, {}
        for depth in depths:
            src = folders[(source, depth)]
            cache = str(trees) if trees is not None else tempfile.mkdtemp(prefix="modelport-cold-trees-")
            runs[depth] = command([a if a != "SRC" else str(src) for a in argv], out, {"MODELPORT_CACHE": cache})
            if trees is None:
                shutil.rmtree(cache, ignore_errors=True)
            copies[depth] = command([sys.executable, "-c", COPY, str(src), str(out)], out)
            copies[depth]["bytes"] = runs[depth]["bytes"]  # the same payload: what the conversion wrote
        rounds.append((runs, copies))
    return {"rounds": rounds}


def report_case(source: str, to: str, fmt: str, depths: list[int], result: dict, sizes: dict) -> None:
    rounds = result["rounds"]
    med = {d: {k: statistics.median(r[0][d][k] for r in rounds) for k in ("seconds", "first_byte", "peak_mb")} for d in depths}
    copy = {d: statistics.median(r[1][d]["seconds"] for r in rounds) for d in depths}
    print(f"\n{source} -> {to} ({fmt}), medians of {len(rounds)} rounds:\n")
    print("| layers | source GB | written GB | whole command s | before first byte s | durable copy s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for d in depths:
        written = rounds[0][0][d]["bytes"]
        print(f"| {d} | {sizes[(source, d)] / 1e9:.2f} | {written / 1e9:.2f} | {med[d]['seconds']:.2f} | {med[d]['first_byte']:.2f} "
              f"| {copy[d]:.2f} | {med[d]['peak_mb']:.0f} |")
    print()
    for shallow, deep in zip(depths, depths[1:]):
        pairs = [(marginal(r[0][deep], r[0][shallow]), marginal(r[1][deep], r[1][shallow])) for r in rounds]
        ratios = sorted(a / b for a, b in pairs)
        print(f"- marginal throughput {shallow} -> {deep} layers: {statistics.median(p[0] for p in pairs):.0f} MB/s, durable copy "
              f"{statistics.median(p[1] for p in pairs):.0f} MB/s: ratio {median_ratio(pairs):.2f} "
              f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}; target >= 0.5)")
    for shallow, deep in zip(depths, depths[1:]):
        # the same, with each command's wait before its first byte taken out: that wait is shown flat below, and
        # its noise (mostly the framework import, +-1 s) would otherwise swamp a second or two of streaming
        pairs = [(_streamed(r[0][deep], r[0][shallow]), marginal(r[1][deep], r[1][shallow])) for r in rounds]
        print(f"- after the first byte, {shallow} -> {deep} layers: {statistics.median(p[0] for p in pairs):.0f} MB/s: ratio "
              f"{median_ratio(pairs):.2f} (rounds {', '.join(f'{a / b:.2f}' for a, b in sorted(pairs, key=lambda p: p[0] / p[1]))})")
    # every run of every depth at once: the slope of a least-squares line through (bytes, seconds) is the marginal
    # cost per byte; a slow spell in one run moves it far less than it moves a difference of two runs
    ours = _throughput([r[0][d] for r in rounds for d in depths])
    theirs = _throughput([{**r[1][d], "bytes": r[0][d]["bytes"]} for r in rounds for d in depths])
    print(f"- least squares over all {len(rounds) * len(depths)} runs: {ours:.0f} MB/s, durable copy {theirs:.0f} MB/s: "
          f"ratio {ours / theirs:.2f} (target >= 0.5)")
    firsts = [med[d]["first_byte"] for d in depths]
    print(f"- before the first byte: {', '.join(f'{f:.2f}' for f in firsts)} s at {', '.join(map(str, depths))} layers: "
          f"max / min {max(firsts) / min(firsts):.2f} (target <= 1.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 12, 24])
    parser.add_argument("--shard-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=["pt:tf", "pt:flax", "tf:flax", "flax:tf"],
                        help="source:target pairs (tf:pt and flax:pt too), each with :safetensors for that format")
    parser.add_argument("--arch", choices=sorted(SHAPES), default="gpt2")
    parser.add_argument("--transformers-python", default=None)
    parser.add_argument("--root", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write every run's figures to this file")
    parser.add_argument("--cold-trees", action="store_true",
                        help="an empty tree cache for every conversion (the first conversion of an architecture)")
    args = parser.parse_args()
    cases = [(*c.split(":")[:2], c.split(":")[2] if c.count(":") == 2 else "native") for c in args.cases]
    root = Path(args.root or tempfile.mkdtemp(prefix="modelport-convert-bench-"))
    depths = sorted(args.layers)
    try:
        folders = make_checkpoints(root, args.arch, depths, args.shard_mb, {s for s, _, _ in cases}, bool(args.transformers_python))
        sizes = {k: sum(p.stat().st_size for p in v.iterdir() if p.is_file()) for k, v in folders.items()}
        print(f"\n{SHAPES[args.arch].__doc__} {', '.join(map(str, depths))} layers, shards of <= {args.shard_mb} MB; "
              f"{args.repeat} interleaved rounds, each run a fresh whole command; "
              f"{'an empty tree cache each time' if args.cold_trees else 'the tree cache warm'}")
        raw = {}
        for source, to, fmt in cases:
            trees = None if args.cold_trees else root / "tree-cache"
            result = measure_case(source, to, fmt, folders, depths, args.repeat, args.shard_mb, root / "out", trees)
            report_case(source, to, fmt, depths, result, sizes)
            raw[f"{source}:{to}:{fmt}"] = result
            if args.json:
                Path(args.json).write_text(json.dumps({"arch": args.arch, "depths": depths, "cases": raw}, indent=1))
        if args.transformers_python:
            deepest = depths[-1]
            print(f"\ntransformers 4.57.6, {deepest} layers, from the .bin copy (`from_pretrained(from_pt=True)` + `save_pretrained`):\n")
            print("| conversion | s (inside the process) | fixed RSS MB | peak RSS above fixed MB | outcome |")
            print("|---|---|---|---|---|")
            for to in ("tf", "flax"):
                os.sync()
                done = subprocess.run([args.transformers_python, "-c", TRANSFORMERS_CHILD, str(folders[("bin", deepest)]),
                                       str(root / f"hf-{to}"), to], capture_output=True, text=True,
                                      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
                lines = [line for line in done.stdout.strip().splitlines() if line.startswith("{")]
                if not lines:
                    tail = done.stderr.strip().splitlines()[-1][:100] if done.stderr else done.returncode
                    print(f"| pt -> {to} | - | - | - | crashed: {tail} |")
                    continue
                r = json.loads(lines[-1])
                print(f"| pt -> {to} | {r['seconds']:.2f} | {r['fixed_mb']:.0f} | {r['peak_above_fixed_mb']:.0f} | {r['error'] or 'ok'} |")
                shutil.rmtree(root / f"hf-{to}", ignore_errors=True)
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
