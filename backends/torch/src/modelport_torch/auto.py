"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import (
    DECODER_CLASSES,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    GPT2LMHeadModel,
    GPT2Model,
)

__all__ = ["AutoModel", "AutoModelForMaskedLM", "AutoModelForCausalLM", "AutoModelForSequenceClassification",
           "AutoModelForTokenClassification", "AutoModelForQuestionAnswering"]


class AutoModel(AutoModelFactory):
    _mapping = {"bert": BertModel, "gpt2": GPT2Model, **{t: classes[0] for t, classes in DECODER_CLASSES.items()}}


class AutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": BertForMaskedLM}


class AutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": GPT2LMHeadModel, **{t: classes[1] for t, classes in DECODER_CLASSES.items()}}


class AutoModelForSequenceClassification(AutoModelFactory):
    _mapping = {"bert": BertForSequenceClassification, **{t: classes[2] for t, classes in DECODER_CLASSES.items()}}


class AutoModelForTokenClassification(AutoModelFactory):
    _mapping = {"bert": BertForTokenClassification}


class AutoModelForQuestionAnswering(AutoModelFactory):
    _mapping = {"bert": BertForQuestionAnswering}
