"""Loading a 2 GB+ checkpoint into 4 ``torchrun`` ranks, FSDP2-sharded: per-rank peak memory and time.

    python benchmarks/sharded_load.py [--layers 8] [--width 2048] [--rounds 2] [--baseline transformers|modelport]

A Llama-shaped checkpoint (32,000-token vocabulary, untied head, float32, 1 GB shards) is written once to
``--folder``. Each round runs, side by side, two ``torchrun --standalone --nproc-per-node 4`` commands:

* modelport: ``AutoModelForCausalLM.from_pretrained(folder, device_mesh=mesh, fully_shard=True)``: the model laid
  out on the meta device, each rank reading only its quarter of every tensor;
* baseline: the whole checkpoint loaded on every rank (transformers 4.57.6's ``from_pretrained`` when it is
  installed, as in ``nox -s golden_check``'s environment; else modelport's), then ``fully_shard`` on each
  decoder layer and the root, as FSDP2's documentation does it.

Each rank resets its peak-RSS mark after its imports and the process group, so the growth is the load's.
Reported: the whole command's wall time (what the user waits for: start-up and imports included), the load's
time (the slowest rank), and each rank's peak RSS growth as a ratio to the checkpoint's bytes (target: at most
0.35; time at most 1.0x the baseline's).
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

sys.path.insert(0, str(Path(__file__).parent))
from _measure import reset_peak, status_mb  # noqa: E402

RANKS = 4


def rank_child(mode: str, folder: str, out: str) -> None:
    """One rank: load, then report seconds and peak RSS growth."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo")
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    if mode == "baseline-transformers":
        from transformers import AutoModelForCausalLM as Loader
    else:
        from modelport_torch import AutoModelForCausalLM as Loader
    dist.barrier()
    base = reset_peak()
    start = time.perf_counter()
    if mode == "modelport":
        model = Loader.from_pretrained(folder, device_mesh=mesh, fully_shard=True)
    else:
        model = Loader.from_pretrained(folder)
        for layer in model.model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
    dist.barrier()
    seconds = time.perf_counter() - start
    local = sum(p.to_local().numel() * p.element_size() for p in model.parameters())
    Path(f"{out}-{dist.get_rank()}.json").write_text(json.dumps(
        {"seconds": seconds, "rss_growth_mb": status_mb("VmHWM") - base, "local_mb": local / 2**20}))
    dist.destroy_process_group()


def write_checkpoint(folder: Path, layers: int, width: int) -> int:
    """A random Llama-shaped float32 checkpoint in 1 GB shards; returns its tensor bytes."""
    import numpy as np

    from modelport import LlamaConfig, save_checkpoint

    config = LlamaConfig(vocab_size=32000, hidden_size=width, intermediate_size=width * 11 // 4, num_hidden_layers=layers,
                         num_attention_heads=16, num_key_value_heads=16, tie_word_embeddings=False)
    inner = config.intermediate_size
    shapes = {"model.embed_tokens.weight": (config.vocab_size, width)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (width,), p + "post_attention_layernorm.weight": (width,),
                       **{p + f"self_attn.{n}_proj.weight": (width, width) for n in "qkvo"},
                       p + "mlp.gate_proj.weight": (inner, width), p + "mlp.up_proj.weight": (inner, width),
                       p + "mlp.down_proj.weight": (width, inner)})
    shapes.update({"model.norm.weight": (width,), "lm_head.weight": (config.vocab_size, width)})
    rng = np.random.default_rng(0)
    from modelport.formats.base import LazyTensor

    tensors = [(n, LazyTensor("float32", s, lambda s=s: (rng.standard_normal(s, dtype=np.float32) * 0.02))) for n, s in shapes.items()]
    save_checkpoint(folder, tensors, max_shard_size="1GB", durable=False)
    config.save_pretrained(folder)
    return sum(4 * int(np.prod(s)) for s in shapes.values())


def run(mode: str, folder: Path, tmp: Path) -> dict:
    os.sync()
    out = tmp / mode
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(RANKS), __file__,
                    "--rank-child", mode, str(folder), str(out)], check=True, capture_output=True, text=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    ranks = [json.loads(Path(f"{out}-{r}.json").read_text()) for r in range(RANKS)]
    return {"wall": wall, "load": max(r["seconds"] for r in ranks), "rss_mb": [r["rss_growth_mb"] for r in ranks],
            "local_mb": [r["local_mb"] for r in ranks]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--rank-child":
        rank_child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--folder", default="/tmp/modelport-sharded-bench")
    parser.add_argument("--baseline", choices=["transformers", "modelport"], default=None)
    args = parser.parse_args()
    baseline = args.baseline or ("transformers" if _importable("transformers") else "modelport")
    folder = Path(args.folder) / f"llama-{args.layers}x{args.width}"
    if not (folder / "config.json").exists():
        write_checkpoint(folder, args.layers, args.width)
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 2**20
    tmp = Path(args.folder) / "runs"
    tmp.mkdir(exist_ok=True)
    rounds: dict[str, list[dict]] = {"modelport": [], f"baseline-{baseline}": []}
    for _ in range(args.rounds):  # interleaved: the disk's and the page cache's state shift between minutes
        for mode in rounds:
            rounds[mode].append(run(mode, folder, tmp))
    ours, base = rounds["modelport"], rounds[f"baseline-{baseline}"]
    print(f"\nLlama shape, {args.layers} layers x {args.width}, {size_mb:.0f} MiB float32 safetensors, {RANKS} ranks (gloo, CPU), "
          f"{args.rounds} interleaved rounds, page cache warm after the first\n")
    print("| loader | command s (median) | load s (slowest rank, median) | peak RSS growth per rank MB (max) | / checkpoint |")
    print("|---|---|---|---|---|")
    for name, runs in (("modelport `fully_shard=True`", ours), (f"{baseline} whole, then `fully_shard`", base)):
        peak = max(max(r["rss_mb"]) for r in runs)
        print(f"| {name} | {statistics.median(r['wall'] for r in runs):.1f} | {statistics.median(r['load'] for r in runs):.1f} "
              f"| {peak:.0f} | {peak / size_mb:.2f} |")
    ratios = [o["wall"] / b["wall"] for o, b in zip(ours, base)]
    print(f"\ncommand time ratio (modelport / baseline), per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.2f}")
    print(f"local shard per rank: {statistics.mean(ours[0]['local_mb']):.0f} MiB")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    main()
