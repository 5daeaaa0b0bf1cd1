"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import BertForMaskedLM, BertModel, GPT2LMHeadModel, GPT2Model

__all__ = ["AutoModel", "AutoModelForMaskedLM", "AutoModelForCausalLM"]


class AutoModel(AutoModelFactory):
    _mapping = {"bert": BertModel, "gpt2": GPT2Model}


class AutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": BertForMaskedLM}


class AutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": GPT2LMHeadModel}
