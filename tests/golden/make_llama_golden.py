"""Golden checkpoints and outputs of the Llama family (Llama, Mistral, Qwen2, Gemma), written by transformers 4.57.6.

Run it in the golden environment (``nox -s golden_llama``). For each case a tiny
random PyTorch model is built, every parameter perturbed (no norm keeps its
ones, no bias its zeros), saved as safetensors (single and sharded) and
``.bin``, and run on a left-padded batch with and without its attention mask.
Where transformers has a Flax or TF class (Flax Llama, Mistral, Gemma; TF
Mistral) the same weights are saved by it too, unless that class cannot hold
exactly them (transformers' Flax Llama ignores ``tie_word_embeddings``).
Also written: the rotary frequencies transformers computes for each scaling
type (``rope.npz``), which the core's :mod:`modelport.models.rope` must equal.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # transformers' TF code needs tf-keras

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "llama-family"
SEED = 1234
SHARD = "20KB"
BATCH, SEQ, PAD = 2, 9, 3  # the second row is left-padded by PAD tokens
TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 16, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0}

CASES = {
    "llama": ("LlamaForCausalLM", lambda: transformers.LlamaConfig(**TINY, rope_scaling=LLAMA3, attention_bias=True)),
    "llama-tied": ("LlamaForCausalLM", lambda: transformers.LlamaConfig(**TINY, tie_word_embeddings=True)),
    "llama-seqcls": ("LlamaForSequenceClassification", lambda: transformers.LlamaConfig(**TINY, num_labels=3)),
    "mistral": ("MistralForCausalLM", lambda: transformers.MistralConfig(**TINY, sliding_window=4)),
    "qwen2": ("Qwen2ForCausalLM", lambda: transformers.Qwen2Config(**TINY, tie_word_embeddings=True, use_sliding_window=True,
                                                                   sliding_window=4, max_window_layers=1)),
    "gemma": ("GemmaForCausalLM", lambda: transformers.GemmaConfig(**{**TINY, "num_key_value_heads": 1}, head_dim=16)),
    # the other way round for each family: tied Mistral, untied Qwen2 and Gemma
    "mistral-tied": ("MistralForCausalLM", lambda: transformers.MistralConfig(**TINY, sliding_window=4, tie_word_embeddings=True)),
    "qwen2-untied": ("Qwen2ForCausalLM", lambda: transformers.Qwen2Config(**TINY)),
    "gemma-untied": ("GemmaForCausalLM", lambda: transformers.GemmaConfig(**{**TINY, "num_key_value_heads": 1}, head_dim=16,
                                                                          tie_word_embeddings=False)),
    # dynamic NTK scaling on a sequence longer than max_position_embeddings (the frequencies are recomputed)
    "llama-dynamic": ("LlamaForCausalLM", lambda: transformers.LlamaConfig(**{**TINY, "max_position_embeddings": SEQ - 2},
                                                                           rope_scaling={"rope_type": "dynamic", "factor": 2.0})),
    # YaRN: scaled frequencies and cos/sin multiplied by its attention factor
    "llama-yarn": ("LlamaForCausalLM", lambda: transformers.LlamaConfig(
        **TINY, rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16})),
}
BF16_CASE = "llama"  # also saved in bfloat16, with transformers' bfloat16 outputs
#: transformers' own Flax and TF classes, where it has them: their saves are what users hold
FLAX_CLASSES = {"LlamaForCausalLM": "FlaxLlamaForCausalLM", "MistralForCausalLM": "FlaxMistralForCausalLM",
                "GemmaForCausalLM": "FlaxGemmaForCausalLM"}
TF_CLASSES = {"MistralForCausalLM": "TFMistralForCausalLM"}

ROPE_CASES = {
    "default": {},
    "linear": {"rope_type": "linear", "factor": 2.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},
    "yarn-mscale": {"rope_type": "yarn", "factor": 4.0, "mscale": 0.707, "mscale_all_dim": 0.5, "beta_fast": 8.0,
                    "truncate": False},
    "llama3": LLAMA3,
}


def perturb(model: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for param in model.parameters():  # tied parameters appear once
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)


def inputs(vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    ids = rng.integers(1, vocab, size=(BATCH, SEQ), dtype=np.int64)
    mask = np.ones((BATCH, SEQ), dtype=np.int64)
    ids[1, :PAD], mask[1, :PAD] = 0, 0  # left padding with the pad token
    return {"input_ids": ids, "attention_mask": mask}


def _numpy(value) -> np.ndarray:
    value = value.float() if hasattr(value, "float") and hasattr(value, "detach") else value
    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value, dtype=np.float32)


def run(model, batch: dict[str, np.ndarray], masked: bool, framework: str = "pt") -> dict[str, np.ndarray]:
    kwargs = {k: v for k, v in batch.items() if masked or k != "attention_mask"}
    if framework == "pt":
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in kwargs.items()}, output_hidden_states=True)
    elif framework == "tf":
        import tensorflow as tf

        out = model(**{k: tf.constant(v) for k, v in kwargs.items()}, output_hidden_states=True, training=False)
    else:
        out = model(**kwargs, output_hidden_states=True)
    result = {"logits": _numpy(out.logits)}
    for i, state in enumerate(out.hidden_states):
        result[f"hidden_states/{i}"] = _numpy(state)
    if framework == "pt":
        with torch.no_grad():
            base = getattr(model, model.base_model_prefix)(**{k: torch.from_numpy(v) for k, v in kwargs.items()})
        result["last_hidden_state"] = _numpy(base.last_hidden_state)
    return result


def save_outputs(path: Path, model, batch: dict[str, np.ndarray], framework: str = "pt") -> dict[str, np.ndarray]:
    flat = {}
    for masked in (True, False):
        for name, value in run(model, batch, masked, framework).items():
            flat[f"{'masked' if masked else 'nomask'}/{name}"] = value
    np.savez(path, **flat)
    return flat


def disagreement(ours: dict[str, np.ndarray], reference: dict[str, np.ndarray], mask: np.ndarray) -> float:
    """The largest logit difference at positions that are not padding (masked run)."""
    keep = mask.astype(bool)
    got, expected = ours["masked/logits"], reference["masked/logits"]
    if got.ndim == 3:
        got, expected = got[keep], expected[keep]
    return float(np.abs(got - expected).max())


def _pytorch_names(model, framework: str) -> set[str]:
    """The PyTorch names of a transformers TF or Flax model's weights (the general rules: enough for these classes)."""
    if framework == "tf":
        names = {w.name.split("/", 1)[1].removesuffix(":0") for w in model.weights}
    else:
        from flax.traverse_util import flatten_dict

        names = {"/".join(path) for path in flatten_dict(model.params)}
    renamed = {"kernel": "weight", "embedding": "weight", "embeddings": "weight"}
    return {".".join(renamed.get(part, part) for part in name.replace("/", ".").split(".")) for name in names}


def other_frameworks(folder: Path, class_name: str, batch: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict:
    """transformers' Flax and TF saves of the same weights, where its class holds exactly the PyTorch model's weights.

    Their own outputs are recorded too (``outputs-flax.npz``, ``outputs-tf.npz``) with how far they are from
    PyTorch's: transformers' Flax Llama ignores rope_scaling, its Flax and TF Mistral ignore the sliding window
    on a padded batch. The tests compare modelport's loads of these files with PyTorch's outputs, the truth.
    """
    from safetensors import safe_open

    with safe_open(folder / "pt-safetensors" / "model.safetensors", "np") as f:
        pytorch = set(f.keys())
    done = {}
    for framework, classes in (("flax", FLAX_CLASSES), ("tf", TF_CLASSES)):
        if class_name not in classes:
            continue
        try:
            model = getattr(transformers, classes[class_name]).from_pretrained(folder / "pt-safetensors", from_pt=True)
        except Exception as exc:  # noqa: BLE001 - recorded: e.g. Flax Llama knows no rope_scaling
            done[framework] = f"skipped: {classes[class_name]} fails: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            continue
        extra = sorted(_pytorch_names(model, framework) - pytorch)
        if extra:  # e.g. a tied checkpoint: transformers' Flax Llama keeps a random lm_head of its own
            done[framework] = f"skipped: {classes[class_name]} holds weights the PyTorch model does not: {extra}"
            continue
        native = "flax-msgpack" if framework == "flax" else "tf-h5"
        model.save_pretrained(folder / native)
        model.save_pretrained(folder / f"{native}-sharded", max_shard_size=SHARD)
        gap = disagreement(save_outputs(folder / f"outputs-{framework}.npz", model, batch, framework), reference,
                           batch["attention_mask"])
        done[framework] = f"{classes[class_name]} saved; its own logits are {gap:.3g} from {class_name}'s"
    return done


def build(case: str, class_name: str, make_config) -> dict:
    folder = OUT / case
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    torch.manual_seed(SEED)
    config = make_config()
    model = getattr(transformers, class_name)(config).eval()
    perturb(model)
    batch = inputs(config.vocab_size)
    np.savez(folder / "inputs.npz", **batch)
    model.save_pretrained(folder / "pt-safetensors")
    model.save_pretrained(folder / "pt-safetensors-sharded", max_shard_size=SHARD)
    model.save_pretrained(folder / "pt-bin", safe_serialization=False)
    reference = save_outputs(folder / "outputs-pt.npz", model, batch)
    if case == BF16_CASE:
        half = getattr(transformers, class_name).from_pretrained(folder / "pt-safetensors", dtype=torch.bfloat16).eval()
        half.save_pretrained(folder / "pt-safetensors-bf16")
        save_outputs(folder / "outputs-pt-bf16.npz", half, batch)
    others = other_frameworks(folder, class_name, batch, reference)
    return {"class": class_name, "folders": sorted(p.name for p in folder.iterdir() if p.is_dir()), "other_frameworks": others}


def rope_golden() -> dict:
    """transformers' inverse frequencies and cos/sin factor for each scaling type (dynamic also at 3x the context)."""
    arrays, meta = {}, {}
    for name, scaling in ROPE_CASES.items():
        kwargs = dict(TINY, rope_scaling=dict(scaling) if scaling else None)
        config = transformers.LlamaConfig(**kwargs)
        kind = scaling.get("rope_type", "default")
        lengths = [None, 3 * config.max_position_embeddings] if kind == "dynamic" else [None]
        for length in lengths:
            inv_freq, factor = ROPE_INIT_FUNCTIONS[kind](config, "cpu", seq_len=length)
            key = name if length is None else f"{name}@{length}"
            arrays[key] = inv_freq.numpy()
            meta[key] = {"config": kwargs, "seq_len": length, "attention_factor": float(factor)}
    np.savez(OUT / "rope.npz", **arrays)
    return meta


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"transformers": transformers.__version__, "torch": torch.__version__, "seed": SEED, "max_shard_size": SHARD,
                "cases": {case: build(case, *spec) for case, spec in CASES.items()}, "rope": rope_golden()}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"{len(CASES)} cases -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
