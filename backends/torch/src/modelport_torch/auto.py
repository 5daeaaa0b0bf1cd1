"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.adapters import ParameterTree
from modelport.auto import AutoModelFactory

from .models import BertForMaskedLM, BertModel, GPT2LMHeadModel, GPT2Model

__all__ = ["AutoModel", "AutoModelForMaskedLM", "AutoModelForCausalLM"]


class AutoModel(AutoModelFactory):
    _mapping = {"bert": BertModel, "gpt2": GPT2Model}


class AutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": BertForMaskedLM}


class AutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": GPT2LMHeadModel}


# What the converter and --verify use (through TorchAdapter): classes by PyTorch architecture name.
ARCHITECTURES: dict[str, type] = {"BertModel": BertModel, "BertForMaskedLM": BertForMaskedLM, "GPT2Model": GPT2Model,
                                  "GPT2LMHeadModel": GPT2LMHeadModel}
BASE_MODELS: dict[str, type] = AutoModel._mapping


def parameter_tree(cls: type, config: Any) -> ParameterTree:
    """Names and shapes from a model built on the meta device: no weight memory."""
    import torch

    with torch.device("meta"):
        model = cls(config)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    return ParameterTree("pt", shapes, cls.base_model_prefix, cls.__name__)


def run_model(model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        out = model(**{k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in inputs.items()})
    return {k: v.float().numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}
