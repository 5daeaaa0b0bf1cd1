"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import (
    DECODER_CLASSES,
    FlaxBertForMaskedLM,
    FlaxBertForQuestionAnswering,
    FlaxBertForSequenceClassification,
    FlaxBertForTokenClassification,
    FlaxBertModel,
    FlaxGPT2LMHeadModel,
    FlaxGPT2Model,
)

__all__ = ["FlaxAutoModel", "FlaxAutoModelForMaskedLM", "FlaxAutoModelForCausalLM", "FlaxAutoModelForSequenceClassification",
           "FlaxAutoModelForTokenClassification", "FlaxAutoModelForQuestionAnswering"]


class FlaxAutoModel(AutoModelFactory):
    _mapping = {"bert": FlaxBertModel, "gpt2": FlaxGPT2Model, **{t: classes[0] for t, classes in DECODER_CLASSES.items()}}


class FlaxAutoModelForMaskedLM(AutoModelFactory):
    _mapping = {"bert": FlaxBertForMaskedLM}


class FlaxAutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": FlaxGPT2LMHeadModel, **{t: classes[1] for t, classes in DECODER_CLASSES.items()}}


class FlaxAutoModelForSequenceClassification(AutoModelFactory):
    _mapping = {"bert": FlaxBertForSequenceClassification, **{t: classes[2] for t, classes in DECODER_CLASSES.items()}}


class FlaxAutoModelForTokenClassification(AutoModelFactory):
    _mapping = {"bert": FlaxBertForTokenClassification}


class FlaxAutoModelForQuestionAnswering(AutoModelFactory):
    _mapping = {"bert": FlaxBertForQuestionAnswering}
