"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import TFBertForMaskedLM, TFBertModel, TFGPT2LMHeadModel, TFGPT2Model

__all__ = ["TFAutoModel", "TFAutoModelForMaskedLM", "TFAutoModelForCausalLM"]


class TFAutoModel(AutoModelFactory):
    _mapping = {"bert": TFBertModel, "gpt2": TFGPT2Model}


class TFAutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": TFBertForMaskedLM}


class TFAutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": TFGPT2LMHeadModel}
