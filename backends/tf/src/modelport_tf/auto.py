"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import (
    DECODER_CLASSES,
    ENCODER_CLASSES,
    TFGPT2LMHeadModel,
    TFGPT2Model,
    TFT5EncoderModel,
    TFT5ForConditionalGeneration,
    TFT5Model,
    TFViTForImageClassification,
    TFViTModel,
)

__all__ = ["TFAutoModel", "TFAutoModelForMaskedLM", "TFAutoModelForCausalLM", "TFAutoModelForSequenceClassification",
           "TFAutoModelForTokenClassification", "TFAutoModelForQuestionAnswering",
           "TFAutoModelForPreTraining",
           "TFAutoModelForImageClassification", "TFAutoModelForSeq2SeqLM", "TFAutoModelForTextEncoding"]


def _encoders(head: str) -> dict[str, type]:
    return {model_type: classes[head] for model_type, classes in ENCODER_CLASSES.items() if head in classes}


class TFAutoModel(AutoModelFactory):
    _mapping = {**_encoders("Model"), "gpt2": TFGPT2Model, "vit": TFViTModel, "t5": TFT5Model,
                **{t: classes[0] for t, classes in DECODER_CLASSES.items()}}


class TFAutoModelForMaskedLM(AutoModelFactory):
    _mapping = _encoders("ForMaskedLM")


class TFAutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": TFGPT2LMHeadModel, **{t: classes[1] for t, classes in DECODER_CLASSES.items()}}


class TFAutoModelForSequenceClassification(AutoModelFactory):
    _mapping = {**_encoders("ForSequenceClassification"), **{t: classes[2] for t, classes in DECODER_CLASSES.items()}}


class TFAutoModelForTokenClassification(AutoModelFactory):
    _mapping = _encoders("ForTokenClassification")


class TFAutoModelForQuestionAnswering(AutoModelFactory):
    _mapping = _encoders("ForQuestionAnswering")


class TFAutoModelForPreTraining(AutoModelFactory):
    _mapping = _encoders("ForPreTraining")


class TFAutoModelForImageClassification(AutoModelFactory):
    _mapping = {"vit": TFViTForImageClassification}


class TFAutoModelForSeq2SeqLM(AutoModelFactory):
    _mapping = {"t5": TFT5ForConditionalGeneration}


class TFAutoModelForTextEncoding(AutoModelFactory):
    _mapping = {"t5": TFT5EncoderModel}
