"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import (
    DECODER_CLASSES,
    ENCODER_CLASSES,
    FlaxGPT2LMHeadModel,
    FlaxGPT2Model,
    FlaxT5EncoderModel,
    FlaxT5ForConditionalGeneration,
    FlaxT5Model,
    FlaxViTForImageClassification,
    FlaxViTModel,
)

__all__ = ["FlaxAutoModel", "FlaxAutoModelForMaskedLM", "FlaxAutoModelForCausalLM", "FlaxAutoModelForSequenceClassification",
           "FlaxAutoModelForTokenClassification", "FlaxAutoModelForQuestionAnswering",
           "FlaxAutoModelForPreTraining",
           "FlaxAutoModelForImageClassification", "FlaxAutoModelForSeq2SeqLM",
           "FlaxAutoModelForTextEncoding"]


def _encoders(head: str) -> dict[str, type]:
    return {model_type: classes[head] for model_type, classes in ENCODER_CLASSES.items() if head in classes}


class FlaxAutoModel(AutoModelFactory):
    _mapping = {**_encoders("Model"), "gpt2": FlaxGPT2Model, "vit": FlaxViTModel, "t5": FlaxT5Model,
                **{t: classes[0] for t, classes in DECODER_CLASSES.items()}}


class FlaxAutoModelForMaskedLM(AutoModelFactory):
    _mapping = _encoders("ForMaskedLM")


class FlaxAutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": FlaxGPT2LMHeadModel, **{t: classes[1] for t, classes in DECODER_CLASSES.items()}}


class FlaxAutoModelForSequenceClassification(AutoModelFactory):
    _mapping = {**_encoders("ForSequenceClassification"), **{t: classes[2] for t, classes in DECODER_CLASSES.items()}}


class FlaxAutoModelForTokenClassification(AutoModelFactory):
    _mapping = _encoders("ForTokenClassification")


class FlaxAutoModelForQuestionAnswering(AutoModelFactory):
    _mapping = _encoders("ForQuestionAnswering")


class FlaxAutoModelForPreTraining(AutoModelFactory):
    _mapping = _encoders("ForPreTraining")


class FlaxAutoModelForImageClassification(AutoModelFactory):
    _mapping = {"vit": FlaxViTForImageClassification}


class FlaxAutoModelForSeq2SeqLM(AutoModelFactory):
    _mapping = {"t5": FlaxT5ForConditionalGeneration}


class FlaxAutoModelForTextEncoding(AutoModelFactory):
    _mapping = {"t5": FlaxT5EncoderModel}
