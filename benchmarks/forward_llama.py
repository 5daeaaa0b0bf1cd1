"""Forward throughput of the Llama family: modelport against transformers 4.57.6, side by side.

    python benchmarks/forward_llama.py [--rounds 5] [--frameworks pt flax tf]
        [--transformers-python .nox/golden_check/bin/python] [--modelport-python PYTHON] [--work DIR]

One checkpoint, written by transformers 4.57.6: a randomly initialised
``LlamaForCausalLM`` of about 100M parameters (12 layers, width 768, 12 heads
with 4 key/value heads, intermediate 2048, vocabulary 32,000), float32. Each
framework's classes run a batch of 8 x 128 tokens (no padding):

* ``pt``: ``modelport_torch.LlamaForCausalLM`` against transformers' ``LlamaForCausalLM`` (its default SDPA attention);
* ``flax``: ``FlaxLlamaForCausalLM`` of each, jitted, against transformers' Flax Llama;
* ``tf``: ``TFMistralForCausalLM`` of each on the same weights read as a Mistral with no sliding window
  (transformers never had a TF Llama; its TF Mistral is the nearest), traced with ``tf.function``.

Each round runs both sides once, alternating, in fresh processes. A side
loads the model, runs three warm-up calls (compilation, caches), then times
``--calls`` calls and reports tokens per second. The figure is the median of
the per-round ratios (modelport's throughput / transformers').

Both sides run in the transformers environment by default (modelport and its
adapters are installed there too), so they share one build of each framework:
the golden environment pins jax 0.9.2, the test environment 0.10.2, and the
newer jax alone made the same Flax graph about 5% slower.
``--modelport-python`` runs modelport's side elsewhere; the table names the
versions each side used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH, LENGTH = 8, 128
MAKE = """
import sys, torch, transformers
torch.manual_seed(0)
config = transformers.LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                                  num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=512)
transformers.LlamaForCausalLM(config).save_pretrained(sys.argv[1])
"""
VERSIONS = """
from importlib.metadata import version
print(", ".join(f"{name} {version(name)}" for name in ("torch", "tensorflow-cpu", "keras", "jax", "flax")))
"""


def _as_mistral(folder: Path) -> Path:
    """The same weights under a Mistral config with no window (the TF comparison)."""
    target = folder.parent / (folder.name + "-as-mistral")
    if not target.is_dir():
        target.mkdir()
        config = json.loads((folder / "config.json").read_text())
        config.update(model_type="mistral", architectures=["MistralForCausalLM"], sliding_window=None)
        (target / "config.json").write_text(json.dumps(config))
        shutil.copyfile(folder / "model.safetensors", target / "model.safetensors")  # a link out of the folder is refused
    return target


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every side-by-side Llama benchmark takes."""
    parser.add_argument("--frameworks", nargs="+", default=["pt", "flax", "tf"], choices=["pt", "flax", "tf"])
    parser.add_argument("--transformers-python", default=str(ROOT / ".nox" / "golden_check" / "bin" / "python"))
    parser.add_argument("--modelport-python", default=None, help="default: the transformers environment's python")
    parser.add_argument("--work", default="/tmp/modelport-bench-llama")


def prepare(args: argparse.Namespace) -> tuple[Path, dict[str, str], str]:
    """The checkpoint (made once), the children's environment and modelport's python; prints both sides' versions."""
    folder = Path(args.work) / "llama-100m"
    if not folder.is_dir():
        subprocess.run([args.transformers_python, "-c", MAKE, str(folder)], check=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1"}
    ours_python = args.modelport_python or args.transformers_python
    for label, python in (("modelport", ours_python), ("transformers", args.transformers_python)):
        versions = subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True, env=env).stdout.strip()
        print(f"{label}: {python} ({versions})")
    return folder, env, ours_python


def child(side: str, framework: str, folder: str, calls: int) -> dict:
    import numpy as np

    ids = np.random.default_rng(0).integers(1, 32000, size=(BATCH, LENGTH), dtype=np.int64)
    if framework == "pt":
        import torch

        torch.set_grad_enabled(False)
        module = __import__("transformers" if side == "transformers" else "modelport_torch", fromlist=["LlamaForCausalLM"])
        model = module.LlamaForCausalLM.from_pretrained(folder).eval()
        inputs = torch.from_numpy(ids)

        def run():  # type: ignore[no-untyped-def]
            return model(inputs).logits.sum().item()
    elif framework == "flax":
        import jax

        module = __import__("transformers" if side == "transformers" else "modelport_flax", fromlist=["FlaxLlamaForCausalLM"])
        model = module.FlaxLlamaForCausalLM.from_pretrained(folder, from_pt=True) if side == "transformers" else \
            module.FlaxLlamaForCausalLM.from_pretrained(folder)
        step = jax.jit(lambda params, x: model(x, params=params).logits.sum())

        def run():  # type: ignore[no-untyped-def]
            return float(step(model.params, ids))
    else:
        import tensorflow as tf

        module = __import__("transformers" if side == "transformers" else "modelport_tf", fromlist=["TFMistralForCausalLM"])
        kwargs = {"from_pt": True} if side == "transformers" else {}
        model = module.TFMistralForCausalLM.from_pretrained(folder, **kwargs)
        inputs = tf.constant(ids)
        step = tf.function(lambda x: tf.reduce_sum(model(x, training=False).logits))

        def run():  # type: ignore[no-untyped-def]
            return float(step(inputs))
    for _ in range(3):
        run()
    start = time.perf_counter()
    for _ in range(calls):
        run()
    seconds = time.perf_counter() - start
    return {"tokens_per_s": calls * BATCH * LENGTH / seconds, "seconds": seconds}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5)
    common_arguments(parser)
    args = parser.parse_args()
    folder, env, ours_python = prepare(args)
    print("| framework | modelport tokens/s | transformers tokens/s | ratio (median of rounds) | rounds |")
    print("|---|---|---|---|---|")
    for framework in args.frameworks:
        source = _as_mistral(folder) if framework == "tf" else folder
        ours, theirs = [], []
        for _ in range(args.rounds):
            for side, python, results in (("modelport", ours_python, ours), ("transformers", args.transformers_python, theirs)):
                done = subprocess.run([python, __file__, "--child", side, framework, str(source), str(args.calls)],
                                      capture_output=True, text=True, env=env)
                if done.returncode:
                    raise RuntimeError(f"{side} {framework} failed:\n{done.stderr[-3000:]}")
                results.append(json.loads(done.stdout.strip().splitlines()[-1])["tokens_per_s"])
        ratios = [a / b for a, b in zip(ours, theirs)]
        print(f"| {framework} | {statistics.median(ours):,.0f} | {statistics.median(theirs):,.0f} | {statistics.median(ratios):.2f} | "
              f"{', '.join(f'{r:.2f}' for r in ratios)} |", flush=True)


if __name__ == "__main__":
    main()
