"""Golden task-head data (tests/golden/data/heads, written by transformers 4.57.6 with
tests/golden/make_heads_golden.py), shared by the core's loss tests and the adapters' head tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .golden import GOLDEN

DATA = GOLDEN / "heads"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
#: "<architecture>-<head>" -> transformers' PyTorch class name
CASES: dict[str, str] = {case: spec["class"] for case, spec in sorted(MANIFEST["models"].items())}
#: (case, format folder) for every folder transformers wrote (no Flax folders for CamemBERT: transformers has no Flax
#: CamemBERT)
ALL_CASE_FOLDERS = [(case, fmt) for case in CASES for fmt in MANIFEST["models"][case]["folders"]]


def _half_of_the_folders(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each case's folders alternately, the other half for the next case: every format, sharded and not, of every
    framework is still read, by half the loads. ``MODELPORT_HEADS=all`` (``nox -s heads``) reads every one."""
    cases = {case: index for index, case in enumerate(CASES)}
    order: dict[str, int] = {}
    kept = []
    for case, fmt in pairs:
        position = order[case] = order.get(case, -1) + 1
        if (position + cases[case]) % 2 == 0:
            kept.append((case, fmt))
    return kept


#: the (case, folder) pairs the load and conversion tests read: all of them with ``MODELPORT_HEADS=all``
CASE_FOLDERS = ALL_CASE_FOLDERS if os.environ.get("MODELPORT_HEADS") == "all" else _half_of_the_folders(ALL_CASE_FOLDERS)
TOLERANCE = 1e-5  # max absolute difference of outputs and losses, float32


def folder(case: str, fmt: str) -> Path:
    return DATA / case / fmt


def inputs(case: str, masked: bool = True) -> dict[str, np.ndarray]:
    return {k: v for k, v in np.load(DATA / case / "inputs.npz").items() if masked or k != "attention_mask"}


def reference(case: str, masked: bool = True) -> dict[str, np.ndarray]:
    """transformers' PyTorch outputs (``logits``, or ``start_logits`` and ``end_logits``)."""
    prefix = "masked/" if masked else "nomask/"
    return {k[len(prefix):]: v for k, v in np.load(DATA / case / "outputs-pt.npz").items() if k.startswith(prefix)}


def label_sets(case: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, {"given": problem_type set before the call or None, "chosen": transformers' problem_type after it,
    "loss": its loss, "labels": {keyword: array}}) for each label set of ``case``."""
    losses = json.loads((DATA / case / "losses.json").read_text())
    arrays = np.load(DATA / case / "labels.npz")
    result = []
    for name, spec in sorted(losses.items()):
        labels = {key.split("/", 1)[1]: arrays[key] for key in arrays.files if key.startswith(name + "/")}
        result.append((name, {"given": spec["problem_type_given"], "chosen": spec["problem_type_chosen"], "loss": spec["loss"],
                              "labels": labels}))
    return result


#: (case, label set name) pairs for parametrising loss tests
LOSS_CASES = [(case, name) for case in CASES for name, _ in label_sets(case)]


def max_diff(got: Any, want: np.ndarray) -> float:
    return float(np.abs(np.asarray(got, dtype=np.float64) - want).max())


def load(module: Any, prefix: str, case: str, fmt: str) -> tuple[Any, dict]:
    """``case``'s class of an adapter (``prefix`` "", "TF" or "Flax") from ``fmt``, with its loading report; the
    cross-framework flag (``from_tf``...) is set from the folder's name, except for the adapter's own framework."""
    own = {"": "pt", "TF": "tf", "Flax": "flax"}[prefix]
    source = fmt.split("-")[0]
    kwargs = {} if source == own else {f"from_{source}": True}
    return getattr(module, prefix + CASES[case]).from_pretrained(folder(case, fmt), output_loading_info=True, **kwargs)


def assert_loads_with_transformers_outputs(model: Any, info: dict, case: str, run: Any) -> None:
    """An empty loading report, and ``run(model, inputs)``'s outputs equal transformers' with and without the mask."""
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    for masked in (True, False):
        out = run(model, inputs(case, masked))
        for name, want in reference(case, masked).items():
            assert max_diff(out[name], want) <= TOLERANCE, (name, masked)


def head_kind(case: str) -> str:
    """The class name's suffix after the architecture's stem: ``Model``, ``ForMaskedLM``, ``ForSequenceClassification``..."""
    from modelport.models.encoders import ENCODER_HEADS, EXTRA_HEADS
    from modelport.models.t5 import T5_HEADS
    from modelport.models.vit import VIT_HEADS

    kinds = {*ENCODER_HEADS, *(head for heads in EXTRA_HEADS.values() for head in heads), *VIT_HEADS, *T5_HEADS}
    return next(kind for kind in sorted(kinds, key=len, reverse=True) if CASES[case].endswith(kind))


def own_or_pytorch(case: str, fmt: str) -> str:
    """``fmt`` when transformers wrote it for ``case``, else ``pt-safetensors`` (no Flax CamemBERT in transformers)."""
    return fmt if fmt in MANIFEST["models"][case]["folders"] else "pt-safetensors"


#: the image cases, whose golden outputs include images of another size run with ``interpolate_pos_encoding=True``
INTERPOLATED_CASES = [case for case in CASES if (DATA / case / "inputs-interpolated.npz").exists()]


def interpolated(case: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The other-size images of an image case and transformers' PyTorch outputs on them."""
    prefix = "interpolated/"
    outputs = {k[len(prefix):]: v for k, v in np.load(DATA / case / "outputs-pt.npz").items() if k.startswith(prefix)}
    return dict(np.load(DATA / case / "inputs-interpolated.npz")), outputs


#: the encoder-decoder language models, whose golden data include transformers' generate() (generation.npz)
GENERATION_CASES = [case for case in CASES if (DATA / case / "generation.npz").exists()]


def generation(case: str) -> list[tuple[str, dict[str, Any], dict[str, np.ndarray]]]:
    """(name, generate() keywords, transformers' ``sequences`` and, for beam search, ``sequences_scores``) of each
    setting recorded for ``case``."""
    spec = json.loads((DATA / case / "generation.json").read_text())
    arrays = np.load(DATA / case / "generation.npz")
    common = {"max_new_tokens": spec["max_new_tokens"], "eos_token_id": spec["eos_token_id"]}
    return [(name, {**common, **settings}, {k.split("/", 1)[1]: arrays[k] for k in arrays.files if k.startswith(name + "/")})
            for name, settings in sorted(spec["settings"].items())]
