"""Proof that a conversion kept the model: both checkpoints run in their frameworks on one fixed input."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import adapters, frameworks
from ..auto import AutoConfig
from ..config import PretrainedConfig
from ..errors import ConversionError

__all__ = ["probe_inputs", "inputs_for", "verify_conversion", "compare_outputs", "default_tolerance", "verified_with"]

#: dtypes whose rounding a probe's outputs show: verification then allows 0.1
_LOW_PRECISION = ("bfloat16", "float16", "float8_e4m3fn", "float8_e5m2")


def default_tolerance(cast: str | None) -> float:
    """1e-4, or 0.1 when the conversion lowers the precision."""
    return 1e-1 if cast in _LOW_PRECISION else 1e-4


def probe_inputs(config: PretrainedConfig | None, batch: int = 2, length: int = 8) -> dict[str, np.ndarray]:
    """A fixed input every architecture accepts: token ids from a seeded generator, the second row padded."""
    vocab = int(getattr(config, "vocab_size", 1000) or 1000)
    positions = int(getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or length)
    length = min(length, positions)
    ids = np.random.default_rng(0).integers(1, min(vocab, 30000), size=(batch, length)).astype(np.int32)
    mask = np.ones((batch, length), np.int32)
    if batch > 1 and length > 3:
        mask[1, -3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def verify_conversion(source: str | os.PathLike[str], source_framework: str, result: str | os.PathLike[str],
                      target_framework: str, tolerance: float = 1e-4) -> dict[str, float]:
    """Run both checkpoints in their frameworks on :func:`probe_inputs`; raise unless every output agrees.

    Returns:
        The max absolute difference of every output.

    Raises:
        ConversionError: an output differs by more than ``tolerance``; the message lists every output's difference.
    """
    diffs = compare_outputs(Path(os.fspath(source)), source_framework, Path(os.fspath(result)), target_framework)
    if max(diffs.values()) > tolerance:
        raise ConversionError(
            "the converted model's outputs disagree with the source's", where=os.fspath(result),
            expected=f"max |diff| <= {tolerance:.0e} on every output",
            received=", ".join(f"{k}: {v:.3e}" for k, v in diffs.items()),
            fix="A weight was changed or mapped wrongly: compare both with `modelport inspect --tensors`.",
        )
    return diffs


def verified_with(result: str | os.PathLike[str]) -> str:
    """Whose classes :func:`compare_outputs` runs for the checkpoint in ``result``."""
    if AutoConfig.knows(result):
        return "modelport's adapters"
    from .verify_transformers import class_name_for

    config = PretrainedConfig.from_pretrained(result)
    return f"transformers' classes, {class_name_for(config, 'pt')} for the result"


def compare_outputs(source: Path, source_framework: str, result: Path, target_framework: str) -> dict[str, float]:
    """Max absolute difference of every output both models produce on :func:`probe_inputs`.

    modelport's adapters run both when modelport implements the architecture; otherwise transformers' own classes
    do, when transformers is importable (:mod:`.verify_transformers`)."""
    if not AutoConfig.knows(result):
        theirs, ours = _run_with_transformers(source, source_framework, result, target_framework)
    else:
        config = AutoConfig.from_pretrained(result)
        inputs, runs = probe_inputs(config), []
        for folder, framework in ((source, source_framework), (result, target_framework)):
            adapter = adapters.get(frameworks.adapter_for(framework))
            model = adapter.load_model(folder)
            runs.append(adapter.run_model(model, inputs_for(type(model), config, inputs)))
        theirs, ours = runs
    common = [k for k in theirs if k in ours and theirs[k].shape == ours[k].shape]
    if not common:
        raise ConversionError("the two models share no output to compare", where=str(result), received=sorted(ours))
    return {k: float(np.abs(theirs[k].astype(np.float64) - ours[k].astype(np.float64)).max()) for k in common}


def _run_with_transformers(source: Path, source_framework: str, result: Path,
                           target_framework: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    from .verify_transformers import run_with_transformers, transformers_available, unavailable

    config = PretrainedConfig.from_pretrained(result)
    if not transformers_available():
        raise unavailable(getattr(config, "model_type", "") or "", result)
    inputs = probe_inputs(config)
    return (run_with_transformers(source, source_framework, config, inputs),
            run_with_transformers(result, target_framework, config, inputs))


def _value(config: Any, key: str, default: Any = None) -> Any:
    """A config value; sub-configs of an architecture modelport has no class for are plain dicts."""
    return config.get(key, default) if isinstance(config, dict) else getattr(config, key, default)


def inputs_for(model_class: Any, config: Any, probe: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The probe's token ids, or seeded pixels, audio or features when the class takes those (its
    ``main_input_name``); decoder ids too for an encoder-decoder's decoder."""
    main = getattr(model_class, "main_input_name", "input_ids")
    rng = np.random.default_rng(0)
    vision = _value(config, "vision_config") or _value(config, "encoder") or config
    if main == "pixel_values":
        size = int(_value(vision, "image_size", 224))
        inputs = {"pixel_values": rng.normal(size=(2, int(_value(vision, "num_channels", 3)), size, size)).astype("float32")}
    elif main == "input_values":
        inputs = {"input_values": rng.normal(size=(2, 16000)).astype("float32")}
    elif main == "input_features":
        bins, frames = int(_value(config, "num_mel_bins", 80)), 2 * int(_value(config, "max_source_positions", 1500))
        inputs = {"input_features": rng.normal(size=(2, bins, frames)).astype("float32")}
    else:
        inputs = dict(probe)
    if _takes(model_class, "input_ids") and "input_ids" not in inputs and _value(config, "text_config") is not None:
        inputs.update(probe)  # dual encoders (CLIP) take both
    if _takes(model_class, "decoder_input_ids"):
        inputs["decoder_input_ids"] = probe["input_ids"][:, :4]
    return inputs


def _takes(model_class: Any, name: str) -> bool:
    """Whether the model's call takes ``name``: PyTorch's ``forward``, Keras' ``call``, modelport Flax's ``_run`` or a
    Flax model's ``__call__``."""
    for method in ("forward", "call", "_run", "__call__"):
        function = getattr(model_class, method, None)
        if function is not None:
            try:
                if name in inspect.signature(function).parameters:
                    return True
            except (TypeError, ValueError):  # a builtin without a signature
                continue
    return False
