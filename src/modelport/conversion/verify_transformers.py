"""Verification with transformers 4.x's own classes, for architectures modelport has no model class for.

``--verify`` runs the source and the result. modelport's adapters run the
architectures they implement; a rescued TF or Flax checkpoint of any other
architecture is run with transformers' TF or Flax class, and the result with its
PyTorch class (the architecture table names it). transformers is imported only
here, only when such a verification is asked for: modelport never needs it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from .. import adapters, frameworks
from ..errors import ConversionError
from .architectures import table_for
from .verify import inputs_for

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
    inputs = inputs_for(pytorch_class, config, probe)
    model = model_class.from_pretrained(folder)
    # the framework's part (tensors in, outputs out) is its adapter's: the core imports no framework
    return adapters.get(frameworks.adapter_for(framework)).run_model(model, inputs)
