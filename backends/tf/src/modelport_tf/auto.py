"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.adapters import ParameterTree
from modelport.auto import AutoModelFactory

from .models import TFBertForMaskedLM, TFBertModel, TFGPT2LMHeadModel, TFGPT2Model

__all__ = ["TFAutoModel", "TFAutoModelForMaskedLM", "TFAutoModelForCausalLM"]


class TFAutoModel(AutoModelFactory):
    _mapping = {"bert": TFBertModel, "gpt2": TFGPT2Model}


class TFAutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": TFBertForMaskedLM}


class TFAutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": TFGPT2LMHeadModel}


# What the converter and --verify use (through TFAdapter): classes by PyTorch architecture name.
ARCHITECTURES: dict[str, type] = {"BertModel": TFBertModel, "BertForMaskedLM": TFBertForMaskedLM, "GPT2Model": TFGPT2Model,
                                  "GPT2LMHeadModel": TFGPT2LMHeadModel}
BASE_MODELS: dict[str, type] = TFAutoModel._mapping


def parameter_tree(cls: type, config: Any) -> ParameterTree:
    """Names and shapes from a model traced in a graph with Keras' deferred variables: no weight memory."""
    from .layers import deferred_variables, forget_deferred, named_variables

    model = cls(config)
    with deferred_variables():
        model(model.dummy_inputs, training=False)
    variables = named_variables(model)
    forget_deferred(variables.values())
    return ParameterTree("tf", {name: tuple(int(d) for d in v.shape) for name, v in variables.items()}, cls.base_model_prefix,
                         cls.__name__)


def run_model(model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = model({k: np.asarray(v, dtype=np.int32) for k, v in inputs.items()}, training=False)
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items() if hasattr(v, "shape")}
