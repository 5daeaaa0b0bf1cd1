"""Greedy generation speed and memory: modelport's generate() against transformers 4.57.6's, side by side.

    python benchmarks/generate.py [--rounds 3] [--frameworks pt flax tf] [--batches 1 8] [--new-tokens 128]
        [--transformers-python .nox/golden_check/bin/python] [--modelport-python PYTHON] [--work DIR]

The checkpoint is benchmarks/forward_llama.py's: a random ``LlamaForCausalLM`` of about 100M parameters written by
transformers 4.57.6, float32. Each side greedily generates ``--new-tokens`` tokens after a 16-token prompt
(``min_new_tokens`` equal to it, so that an end token cannot stop either side early):

* ``pt``: ``model.generate`` of each (transformers': its default cache and SDPA attention);
* ``flax``: FlaxLlamaForCausalLM of each; transformers' ``generate`` wrapped in ``jax.jit``, as its docs advise;
  modelport's compiles its own loop;
* ``tf``: TFMistralForCausalLM of each on the same weights as a Mistral with no window (transformers never had a TF
  Llama); transformers' ``generate`` in ``tf.function(jit_compile=True)``, as its docs advise; modelport's compiles
  its own loop.

Each child process loads the model, calls generate once (the first call: compilation included), then times
``--calls`` more calls. It reports tokens per second of the timed calls, the first call's extra seconds (compilation,
reported apart), and the process's peak RSS. Each round runs both sides in fresh processes; the figures are the
medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward_llama import _as_mistral, common_arguments, prepare  # noqa: E402

PROMPT = 16


def child(side: str, framework: str, folder: str, batch: int, new_tokens: int, calls: int) -> dict:
    import numpy as np

    ids = np.random.default_rng(0).integers(3, 32000, size=(batch, PROMPT), dtype=np.int64)
    settings = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    if framework == "pt":
        import torch

        module = __import__("transformers" if side == "transformers" else "modelport_torch", fromlist=["LlamaForCausalLM"])
        model = module.LlamaForCausalLM.from_pretrained(folder).eval()
        inputs = torch.from_numpy(ids)

        def run():  # type: ignore[no-untyped-def]
            with torch.inference_mode():
                return model.generate(inputs, attention_mask=torch.ones_like(inputs), **settings).shape
    elif framework == "flax":
        import jax

        if side == "transformers":
            import transformers

            model = transformers.FlaxLlamaForCausalLM.from_pretrained(folder, from_pt=True)
            generate = jax.jit(lambda params, x: model.generate(x, params=params, **settings).sequences)

            def run():  # type: ignore[no-untyped-def]
                return generate(model.params, ids).block_until_ready().shape
        else:
            import modelport_flax

            model = modelport_flax.FlaxLlamaForCausalLM.from_pretrained(folder)

            def run():  # type: ignore[no-untyped-def]
                return model.generate(ids, **settings).sequences.block_until_ready().shape
    else:
        import tensorflow as tf

        if side == "transformers":
            import transformers

            model = transformers.TFMistralForCausalLM.from_pretrained(folder, from_pt=True)
            generate = tf.function(lambda x: model.generate(x, **settings), jit_compile=True)
            inputs = tf.constant(ids, tf.int32)

            def run():  # type: ignore[no-untyped-def]
                return tuple(generate(inputs).shape)
        else:
            import modelport_tf

            model = modelport_tf.TFMistralForCausalLM.from_pretrained(folder)

            def run():  # type: ignore[no-untyped-def]
                return tuple(model.generate(ids, **settings).shape)
    start = time.perf_counter()
    shape = run()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(calls):
        run()
    seconds = (time.perf_counter() - start) / calls
    peak = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return {"tokens_per_s": batch * new_tokens / seconds, "seconds": seconds, "compile_s": max(first - seconds, 0.0),
            "peak_rss_mb": peak, "shape": list(shape)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        side, framework, folder, batch, new_tokens, calls = sys.argv[2:8]
        print(json.dumps(child(side, framework, folder, int(batch), int(new_tokens), int(calls))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    common_arguments(parser)
    args = parser.parse_args()
    folder, env, ours_python = prepare(args)
    print("| framework | batch | modelport tokens/s | transformers tokens/s | ratio | modelport / transformers peak RSS (MB) "
          "| compile s (modelport / transformers) |")
    print("|---|---|---|---|---|---|---|")
    for framework in args.frameworks:
        source = _as_mistral(folder) if framework == "tf" else folder
        for batch in args.batches:
            results: dict[str, list[dict]] = {"modelport": [], "transformers": []}
            for _ in range(args.rounds):
                for side, python in (("modelport", ours_python), ("transformers", args.transformers_python)):
                    done = subprocess.run([python, __file__, "--child", side, framework, str(source), str(batch),
                                           str(args.new_tokens), str(args.calls)], capture_output=True, text=True, env=env)
                    if done.returncode:
                        raise RuntimeError(f"{side} {framework} failed:\n{done.stderr[-3000:]}")
                    results[side].append(json.loads(done.stdout.strip().splitlines()[-1]))

            def median(side: str, key: str, results: dict[str, list[dict]] = results) -> float:
                return statistics.median(r[key] for r in results[side])

            ratio = statistics.median(a["tokens_per_s"] / b["tokens_per_s"]
                                      for a, b in zip(results["modelport"], results["transformers"]))
            print(f"| {framework} | {batch} | {median('modelport', 'tokens_per_s'):,.1f} | "
                  f"{median('transformers', 'tokens_per_s'):,.1f} | {ratio:.2f} | "
                  f"{median('modelport', 'peak_rss_mb'):,.0f} / {median('transformers', 'peak_rss_mb'):,.0f} | "
                  f"{median('modelport', 'compile_s'):.1f} / {median('transformers', 'compile_s'):.1f} |", flush=True)


if __name__ == "__main__":
    main()
