"""Build the task-head golden checkpoints, outputs and losses with transformers 4.57.6 (``nox -s golden_heads``).

For each architecture and head in ``HEADS`` a tiny PyTorch model is built, its
parameters perturbed (no LayerNorm keeps its ones, no bias its zeros), and
saved in every format transformers 4.x writes: PyTorch safetensors and ``.bin``,
TF ``tf_model.h5`` and safetensors, Flax msgpack and safetensors, sharded and
not (the TF and Flax files written by transformers' own TF and Flax classes,
loaded ``from_pt``). ``outputs-pt.npz`` holds the PyTorch class's outputs on
fixed inputs, with and without the attention mask; ``labels.npz`` and
``losses.json`` hold label sets and the loss transformers computes for each,
with the problem type it chose (sequence classification). Image models add
outputs on images of another size with ``interpolate_pos_encoding=True``
(``inputs-interpolated.npz``, ``interpolated/<name>``); T5's language models
add transformers' ``generate()`` ids and beam scores (``generation.npz``,
``generation.json``). Frozen parameters (DistilBERT's sinusoidal table) are not
perturbed. ``ARCH:HEAD`` builds one case.

    tests/golden/data/heads/<arch>-<head>/{pt-safetensors,...}, inputs.npz, outputs-pt.npz, labels.npz, losses.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # transformers' TF code needs tf-keras

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

SEED = 1234
SHARD = "20KB"
BATCH, SEQ = 2, 7
OUT = Path(__file__).parent / "data" / "heads"


def _bert(**overrides: Any) -> transformers.BertConfig:
    return transformers.BertConfig(vocab_size=64, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=32, max_position_embeddings=32, type_vocab_size=2, **overrides)


def _sequence_labels(rng: np.random.Generator, labels: int) -> dict[str, tuple[str | None, dict[str, np.ndarray]]]:
    """Label sets: (the problem_type given to the config, or None to let transformers choose; the labels)."""
    sets = {
        "auto-single": (None, {"labels": rng.integers(0, labels, size=(BATCH,), dtype=np.int64)}),
        "auto-multi": (None, {"labels": rng.integers(0, 2, size=(BATCH, labels)).astype(np.float32)}),
        "regression": ("regression", {"labels": rng.normal(size=(BATCH, labels)).astype(np.float32)}),
    }
    if labels == 1:  # one label: transformers chooses regression whatever the labels' type
        sets = {"auto-regression": (None, {"labels": rng.normal(size=(BATCH,)).astype(np.float32)})}
    return sets


def _token_labels(rng: np.random.Generator, labels: int) -> dict[str, tuple[str | None, dict[str, np.ndarray]]]:
    tags = rng.integers(0, labels, size=(BATCH, SEQ), dtype=np.int64)
    tags[0, 3] = tags[1, 2] = tags[1, 5] = tags[1, 6] = -100  # sub-word continuations and padding
    return {"tags": (None, {"labels": tags})}


def _qa_labels(rng: np.random.Generator, labels: int) -> dict[str, tuple[str | None, dict[str, np.ndarray]]]:
    # the second row's start lies past the sequence: clamped to its length, then ignored
    return {"spans": (None, {"start_positions": np.array([1, SEQ + 2], np.int64), "end_positions": np.array([3, 6], np.int64)})}


def _mlm_labels(rng: np.random.Generator, labels: int) -> dict[str, tuple[str | None, dict[str, np.ndarray]]]:
    tokens = rng.integers(3, 64, size=(BATCH, SEQ), dtype=np.int64)
    tokens[:, ::2] = -100  # only the masked positions count
    return {"masked": (None, {"labels": tokens})}


def _no_labels(rng: np.random.Generator, labels: int) -> dict[str, tuple[str | None, dict[str, np.ndarray]]]:
    return {}


def _roberta(config_class: type) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:  # one token type, as the released checkpoints
        return config_class(vocab_size=64, hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
                            max_position_embeddings=32, type_vocab_size=1, **overrides)
    return make


def _distilbert(**overrides: Any) -> transformers.DistilBertConfig:
    return transformers.DistilBertConfig(vocab_size=64, dim=24, n_layers=2, n_heads=4, hidden_dim=32, max_position_embeddings=32,
                                         **overrides)


def _albert(**overrides: Any) -> transformers.AlbertConfig:
    # two groups of two layers over four steps: each group's weights serve two steps
    return transformers.AlbertConfig(vocab_size=64, embedding_size=16, hidden_size=24, num_hidden_layers=4, num_hidden_groups=2,
                                     inner_group_num=2, num_attention_heads=4, intermediate_size=32, max_position_embeddings=32,
                                     **overrides)


def _electra(**overrides: Any) -> transformers.ElectraConfig:
    return transformers.ElectraConfig(vocab_size=64, embedding_size=16, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=32, max_position_embeddings=32, **overrides)


def _vit(**overrides: Any) -> transformers.ViTConfig:
    return transformers.ViTConfig(hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32, image_size=32,
                                  patch_size=8, **overrides)


def _t5(**overrides: Any) -> transformers.T5Config:
    # relative positions beyond the exact buckets (2 of the encoder's 4 a side) reach the logarithmic ones
    settings = dict(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                    relative_attention_max_distance=16, decoder_start_token_id=0)
    return transformers.T5Config(**{**settings, **overrides})


#: the T5 cases' target tokens: the labels of their loss, and (shifted right by transformers) their decoder inputs
T5_LABELS = np.array([[5, 9, 33, 12, 1], [7, 41, 1, -100, -100]], np.int64)
#: generate() settings whose token ids the T5 language models record (generation.npz)
T5_GENERATION = {
    "greedy": {},
    "beam": {"num_beams": 3},
    "beam-2": {"num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.7},
    # no token twice: the ids follow the logits' ranking further down than a tiny model's favourite token
    "greedy-no-repeat": {"no_repeat_ngram_size": 1, "repetition_penalty": 1.3},
    "beam-no-repeat": {"num_beams": 3, "no_repeat_ngram_size": 1},
}


def _t5_labels(rng: np.random.Generator, labels: int) -> dict[str, tuple[str | None, dict[str, np.ndarray]]]:
    return {"masked": (None, {"labels": T5_LABELS})}


def _replaced_labels(rng: np.random.Generator, labels: int) -> dict[str, tuple[str | None, dict[str, np.ndarray]]]:
    return {"replaced": (None, {"labels": rng.integers(0, 2, size=(BATCH, SEQ), dtype=np.int64)})}


def _family(make: Callable[..., Any], stem: str, base_outputs: tuple[str, ...] = ("last_hidden_state", "pooler_output")
            ) -> dict[str, tuple]:
    """The base model and the four heads of one BERT-family architecture."""
    return {
        "base": (make, f"{stem}Model", base_outputs, _no_labels),
        "mlm": (make, f"{stem}ForMaskedLM", ("logits",), _mlm_labels),
        "sequence": (lambda: make(num_labels=3), f"{stem}ForSequenceClassification", ("logits",), _sequence_labels),
        "sequence-1": (lambda: make(num_labels=1), f"{stem}ForSequenceClassification", ("logits",), _sequence_labels),
        "token": (lambda: make(num_labels=5), f"{stem}ForTokenClassification", ("logits",), _token_labels),
        "qa": (make, f"{stem}ForQuestionAnswering", ("start_logits", "end_logits"), _qa_labels),
    }


# architecture -> head -> (config factory, transformers class name, outputs, label sets); BERT's base and MLM models
# have their own golden folders (make_golden.py)
HEADS = {
    "bert": {head: spec for head, spec in _family(_bert, "Bert").items() if head not in ("base", "mlm")},
    "roberta": _family(_roberta(transformers.RobertaConfig), "Roberta"),
    "xlm-roberta": _family(_roberta(transformers.XLMRobertaConfig), "XLMRoberta"),
    "camembert": _family(_roberta(transformers.CamembertConfig), "Camembert"),
    "distilbert": {**_family(_distilbert, "DistilBert", base_outputs=("last_hidden_state",)),  # no pooler
                   # a computed position table: transformers' Flax class stores none, its PyTorch and TF ones do
                   "base-sinusoidal": (lambda: _distilbert(sinusoidal_pos_embds=True), "DistilBertModel",
                                       ("last_hidden_state",), _no_labels)},
    "albert": _family(_albert, "Albert"),
    "electra": {**_family(_electra, "Electra", base_outputs=("last_hidden_state",)),  # no pooler
                "pretraining": (_electra, "ElectraForPreTraining", ("logits",), _replaced_labels)},
    "t5": {
        "base": (_t5, "T5Model", ("last_hidden_state", "encoder_last_hidden_state"), _no_labels),
        "encoder": (_t5, "T5EncoderModel", ("last_hidden_state",), _no_labels),
        "lm": (_t5, "T5ForConditionalGeneration", ("logits", "encoder_last_hidden_state"), _t5_labels),  # v1.0: tied
        "lm-v1.1": (lambda: _t5(feed_forward_proj="gated-gelu", tie_word_embeddings=False), "T5ForConditionalGeneration",
                    ("logits", "encoder_last_hidden_state"), _t5_labels),
    },
    "vit": {
        "base": (_vit, "ViTModel", ("last_hidden_state", "pooler_output"), _no_labels),
        "sequence": (lambda: _vit(num_labels=3), "ViTForImageClassification", ("logits",), _sequence_labels),
        "sequence-1": (lambda: _vit(num_labels=1), "ViTForImageClassification", ("logits",), _sequence_labels),
    },
}
#: images of another size than the config's, run with interpolate_pos_encoding=True (outputs "interpolated/<name>")
INTERPOLATED_SIZE = (48, 40)


def perturb(model: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:  # a frozen table (DistilBERT's sinusoids) stays what the model computes
                param.add_(torch.randn(param.shape, generator=generator) * 0.1)


def inputs_for(config: transformers.PretrainedConfig) -> dict[str, np.ndarray]:
    """Text: a full row and a right-padded one (the padding token where the mask is 0); token types when there are
    two. Images: two of the config's size, channels first."""
    rng = np.random.default_rng(SEED)
    if hasattr(config, "image_size"):
        shape = (BATCH, config.num_channels, config.image_size, config.image_size)
        return {"pixel_values": rng.normal(size=shape).astype(np.float32)}
    mask = np.array([[1] * SEQ, [1] * (SEQ - 2) + [0, 0]], dtype=np.int64)
    ids = rng.integers(3, config.vocab_size, size=(BATCH, SEQ), dtype=np.int64)
    ids[mask == 0] = config.pad_token_id
    inputs = {"input_ids": ids, "attention_mask": mask}
    if getattr(config, "type_vocab_size", 1) > 1:  # DistilBERT has no token types
        inputs["token_type_ids"] = np.array([[0] * 4 + [1] * (SEQ - 4), [0] * SEQ], dtype=np.int64)
    return inputs


def _torch(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def write_generation(model: Any, inputs: dict[str, np.ndarray], folder: Path) -> None:
    """transformers' generate() on the encoder inputs for each of :data:`T5_GENERATION`'s settings: the sequences
    and, for beam search, their scores (generation.npz)."""
    arrays = {}
    with torch.no_grad():
        for name, settings in T5_GENERATION.items():
            out = model.generate(input_ids=torch.from_numpy(inputs["input_ids"]),
                                 attention_mask=torch.from_numpy(inputs["attention_mask"]), max_new_tokens=8, eos_token_id=1,
                                 output_scores=True, return_dict_in_generate=True, **settings)
            arrays[f"{name}/sequences"] = out.sequences.numpy()
            if "num_beams" in settings:
                arrays[f"{name}/sequences_scores"] = out.sequences_scores.numpy()
    np.savez(folder / "generation.npz", **arrays)
    (folder / "generation.json").write_text(json.dumps({"max_new_tokens": 8, "eos_token_id": 1, "settings": T5_GENERATION},
                                                       indent=2, sort_keys=True) + "\n")


def fill_decoder_bias(tf_model: Any) -> None:
    """Give TF ALBERT's ``predictions/decoder/bias`` its PyTorch value. transformers' TF ALBERT adds the decoder bias
    (``decoder_bias``) to the logits and keeps ``bias`` unused, but loading from PyTorch fills only ``bias``: the
    PyTorch file stores the shared tensor once, as ``predictions.bias``. Left alone, the TF file would hold a zero
    decoder bias and transformers' own TF model would not give its PyTorch model's logits."""
    head = getattr(tf_model, "predictions", None)
    if head is not None and hasattr(head, "decoder_bias"):
        head.decoder_bias.assign(head.bias)


def write_formats(model: torch.nn.Module, class_name: str, folder: Path) -> list[str]:
    """Every format transformers writes for the class in each framework that has it; the folders written."""
    model.save_pretrained(folder / "pt-safetensors")
    model.save_pretrained(folder / "pt-safetensors-sharded", max_shard_size=SHARD)
    model.save_pretrained(folder / "pt-bin", safe_serialization=False)
    model.save_pretrained(folder / "pt-bin-sharded", safe_serialization=False, max_shard_size=SHARD)
    tf_model = getattr(transformers, "TF" + class_name).from_pretrained(folder / "pt-safetensors", from_pt=True)
    fill_decoder_bias(tf_model)
    tf_model.save_pretrained(folder / "tf-h5")
    tf_model.save_pretrained(folder / "tf-h5-sharded", max_shard_size=SHARD)
    tf_model.save_pretrained(folder / "tf-safetensors", safe_serialization=True)
    tf_model.save_pretrained(folder / "tf-safetensors-sharded", safe_serialization=True, max_shard_size=SHARD)
    if hasattr(transformers, "Flax" + class_name):  # transformers has no Flax CamemBERT
        flax_model = getattr(transformers, "Flax" + class_name).from_pretrained(folder / "pt-safetensors", from_pt=True)
        flax_model.save_pretrained(folder / "flax-msgpack")
        flax_model.save_pretrained(folder / "flax-msgpack-sharded", max_shard_size=SHARD)
        flax_model.save_pretrained(folder / "flax-safetensors", safe_serialization=True)
    return sorted(path.name for path in folder.iterdir() if path.is_dir())


def build(arch: str, head: str) -> dict:
    make_config, class_name, names, label_sets = HEADS[arch][head]
    folder = OUT / f"{arch}-{head}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    torch.manual_seed(SEED)
    config = make_config()
    model = getattr(transformers, class_name)(config).eval()
    perturb(model)
    folders = write_formats(model, class_name, folder)
    inputs = inputs_for(config)
    if getattr(config, "is_encoder_decoder", False) and hasattr(model, "decoder"):
        inputs["decoder_input_ids"] = model._shift_right(torch.from_numpy(T5_LABELS)).numpy()
    np.savez(folder / "inputs.npz", **inputs)
    outputs = {}
    with torch.no_grad():
        for masked in (True, False):
            out = model(**_torch({k: v for k, v in inputs.items() if masked or k != "attention_mask"}))
            outputs.update({f"{'masked' if masked else 'nomask'}/{name}": getattr(out, name).numpy() for name in names})
    if hasattr(config, "image_size"):  # another image size, with the position table resized
        rng = np.random.default_rng(SEED + 2)
        bigger = {"pixel_values": rng.normal(size=(BATCH, config.num_channels, *INTERPOLATED_SIZE)).astype(np.float32)}
        np.savez(folder / "inputs-interpolated.npz", **bigger)
        with torch.no_grad():
            out = model(**_torch(bigger), interpolate_pos_encoding=True)
        outputs.update({f"interpolated/{name}": getattr(out, name).numpy() for name in names})
    np.savez(folder / "outputs-pt.npz", **outputs)
    if hasattr(model, "generate") and getattr(config, "is_encoder_decoder", False):
        write_generation(model, inputs, folder)
    labels, losses = {}, {}
    for name, (given, arrays) in label_sets(np.random.default_rng(SEED + 1), config.num_labels).items():
        model.config.problem_type = given
        with torch.no_grad():
            loss = model(**_torch(inputs), **_torch(arrays)).loss
        labels.update({f"{name}/{key}": value for key, value in arrays.items()})
        losses[name] = {"problem_type_given": given, "problem_type_chosen": model.config.problem_type, "loss": float(loss)}
    model.config.problem_type = None
    np.savez(folder / "labels.npz", **labels)
    (folder / "losses.json").write_text(json.dumps(losses, indent=2, sort_keys=True) + "\n")
    return {"class": class_name, "outputs": list(names), "losses": losses, "folders": folders}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archs", nargs="*", default=list(HEADS),
                        help="architectures (all their heads), or ARCH:HEAD for one case (distilbert:base-sinusoidal)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    manifest["versions"] = {dist: importlib.metadata.version(dist) for dist in ("transformers", "torch", "tensorflow-cpu", "tf-keras",
                                                                               "jax", "flax", "safetensors", "h5py")}
    manifest["seed"], manifest["max_shard_size"] = SEED, SHARD
    for name in args.archs:
        arch, _, only = name.partition(":")
        for head in [only] if only else HEADS[arch]:
            manifest["models"][f"{arch}-{head}"] = build(arch, head)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps(manifest["models"], indent=1))


if __name__ == "__main__":
    main()
