"""Verification with transformers 4.x's own classes, for architectures modelport has no model class for.

``--verify`` runs the source and the result. modelport's adapters run the
architectures they implement; a rescued TF or Flax checkpoint of any other
architecture is run with transformers' TF or Flax class, and the result with its
PyTorch class (the architecture table names it). transformers is imported only
here, only when such a verification is asked for: modelport never needs it.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any

import numpy as np

from .. import adapters, frameworks
from ..errors import ConversionError
from .architectures import table_for

__all__ = ["transformers_available", "run_with_transformers", "class_name_for", "unavailable"]

#: the class-name prefix transformers gives each framework's classes
_PREFIX = {"pt": "", "tf": "TF", "flax": "Flax"}


def transformers_available() -> bool:
    return importlib.util.find_spec("transformers") is not None


def unavailable(model_type: str, folder: Path) -> ConversionError:
    return ConversionError(
        f"verification is unavailable for model_type {model_type!r}: modelport has no model class for it, "
        "and transformers is not installed to run its own classes",
        where=str(folder), expected="an architecture modelport implements, or transformers 4.x importable",
        fix="pip install 'modelport[verify]' (transformers 4.x) beside the frameworks of both checkpoints to verify with "
            "transformers' classes, or convert without --verify (the weights were written).",
    )


def class_name_for(config: Any, framework: str) -> str:
    """The transformers class that runs ``config``'s checkpoint in ``framework`` (``pt``, ``tf`` or ``flax``)."""
    architectures = list(getattr(config, "architectures", None) or [])
    if not architectures:
        raise ConversionError("config.json names no architecture, so no transformers class can run it",
                              where="verify", expected="an 'architectures' entry", received=None)
    saved = architectures[0]
    if framework == "pt":
        table = table_for(getattr(config, "model_type", "") or "")
        entry = table.classes.get(saved) if table is not None else None
        return entry.name if entry is not None else saved
    return _PREFIX[framework] + saved


def _value(config: Any, key: str, default: Any = None) -> Any:
    """A config value; sub-configs of an architecture modelport has no class for are plain dicts."""
    return config.get(key, default) if isinstance(config, dict) else getattr(config, key, default)


def _inputs_for(model_class: Any, config: Any, probe: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The probe's token ids, or seeded pixels, audio or features when the class takes those."""
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
    takes = inspect.signature(model_class.forward if hasattr(model_class, "forward") else model_class.__call__).parameters
    if "input_ids" in takes and "input_ids" not in inputs and _value(config, "text_config") is not None:
        inputs.update(probe)  # dual encoders (CLIP) take both
    if "decoder_input_ids" in takes:
        inputs["decoder_input_ids"] = probe["input_ids"][:, :4]
    return inputs


def run_with_transformers(folder: Path, framework: str, config: Any, probe: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Load ``folder`` with transformers' class for ``framework`` and run it on the probe through that framework's
    adapter (``run_model``); every tensor output as float32 numpy."""
    import transformers

    name = class_name_for(config, framework)
    model_class = getattr(transformers, name, None)
    if model_class is None:
        raise ConversionError("transformers has no class for this architecture in this framework", where=str(folder),
                              expected=f"transformers.{name}", received=f"transformers {transformers.__version__}")
    pytorch_class = getattr(transformers, class_name_for(config, "pt"), model_class)
    inputs = _inputs_for(pytorch_class, config, probe)
    model = model_class.from_pretrained(folder)
    # the framework's part (tensors in, outputs out) is its adapter's: the core imports no framework
    return adapters.get(frameworks.adapter_for(framework)).run_model(model, inputs)
