"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import FlaxBertForMaskedLM, FlaxBertModel, FlaxGPT2LMHeadModel, FlaxGPT2Model

__all__ = ["FlaxAutoModel", "FlaxAutoModelForMaskedLM", "FlaxAutoModelForCausalLM"]


class FlaxAutoModel(AutoModelFactory):
    _mapping = {"bert": FlaxBertModel, "gpt2": FlaxGPT2Model}


class FlaxAutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": FlaxBertForMaskedLM}


class FlaxAutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": FlaxGPT2LMHeadModel}
