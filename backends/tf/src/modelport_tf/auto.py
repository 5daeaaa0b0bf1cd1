"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import (
    DECODER_CLASSES,
    TFBertForMaskedLM,
    TFBertForQuestionAnswering,
    TFBertForSequenceClassification,
    TFBertForTokenClassification,
    TFBertModel,
    TFGPT2LMHeadModel,
    TFGPT2Model,
)

__all__ = ["TFAutoModel", "TFAutoModelForMaskedLM", "TFAutoModelForCausalLM", "TFAutoModelForSequenceClassification",
           "TFAutoModelForTokenClassification", "TFAutoModelForQuestionAnswering"]


class TFAutoModel(AutoModelFactory):
    _mapping = {"bert": TFBertModel, "gpt2": TFGPT2Model, **{t: classes[0] for t, classes in DECODER_CLASSES.items()}}


class TFAutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": TFBertForMaskedLM}


class TFAutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": TFGPT2LMHeadModel, **{t: classes[1] for t, classes in DECODER_CLASSES.items()}}


class TFAutoModelForSequenceClassification(AutoModelFactory):
    _mapping = {"bert": TFBertForSequenceClassification, **{t: classes[2] for t, classes in DECODER_CLASSES.items()}}


class TFAutoModelForTokenClassification(AutoModelFactory):
    _mapping = {"bert": TFBertForTokenClassification}


class TFAutoModelForQuestionAnswering(AutoModelFactory):
    _mapping = {"bert": TFBertForQuestionAnswering}
