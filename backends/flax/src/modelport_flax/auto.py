"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.adapters import ParameterTree
from modelport.auto import AutoModelFactory

from .models import FlaxBertForMaskedLM, FlaxBertModel, FlaxGPT2LMHeadModel, FlaxGPT2Model

__all__ = ["FlaxAutoModel", "FlaxAutoModelForMaskedLM", "FlaxAutoModelForCausalLM"]


class FlaxAutoModel(AutoModelFactory):
    _mapping = {"bert": FlaxBertModel, "gpt2": FlaxGPT2Model}


class FlaxAutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": FlaxBertForMaskedLM}


class FlaxAutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": FlaxGPT2LMHeadModel}


# What the converter and --verify use (through FlaxAdapter): classes by PyTorch architecture name.
ARCHITECTURES: dict[str, type] = {"BertModel": FlaxBertModel, "BertForMaskedLM": FlaxBertForMaskedLM, "GPT2Model": FlaxGPT2Model,
                                  "GPT2LMHeadModel": FlaxGPT2LMHeadModel}
BASE_MODELS: dict[str, type] = FlaxAutoModel._mapping


def parameter_tree(cls: type, config: Any) -> ParameterTree:
    """Names and shapes from ``jax.eval_shape``: no weight memory."""
    from flax.traverse_util import flatten_dict

    tree = cls(config, _do_init=False).params_shape_tree
    shapes = {name: tuple(leaf.shape) for name, leaf in flatten_dict(tree, sep="/").items()}
    return ParameterTree("flax", shapes, cls.base_model_prefix, cls.__name__)


def run_model(model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = model(**{k: np.asarray(v, dtype=np.int32) for k, v in inputs.items()})
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items() if hasattr(v, "shape")}
