"""Auto classes: the model class from config.json's ``model_type`` (the logic is the core's)."""

from __future__ import annotations

from modelport.auto import AutoModelFactory

from .models import (
    DECODER_CLASSES,
    ENCODER_CLASSES,
    GPT2LMHeadModel,
    GPT2Model,
    T5EncoderModel,
    T5ForConditionalGeneration,
    T5Model,
    ViTForImageClassification,
    ViTModel,
)

__all__ = ["AutoModel", "AutoModelForMaskedLM", "AutoModelForCausalLM", "AutoModelForSequenceClassification",
           "AutoModelForTokenClassification", "AutoModelForQuestionAnswering", "AutoModelForPreTraining",
           "AutoModelForImageClassification", "AutoModelForSeq2SeqLM", "AutoModelForTextEncoding"]


def _encoders(head: str) -> dict[str, type]:
    return {model_type: classes[head] for model_type, classes in ENCODER_CLASSES.items() if head in classes}


class AutoModel(AutoModelFactory):
    _mapping = {**_encoders("Model"), "gpt2": GPT2Model, "vit": ViTModel, "t5": T5Model,
                **{t: classes[0] for t, classes in DECODER_CLASSES.items()}}


class AutoModelForMaskedLM(AutoModelFactory):
    _mapping = _encoders("ForMaskedLM")


class AutoModelForCausalLM(AutoModelFactory):
    _mapping = {"gpt2": GPT2LMHeadModel, **{t: classes[1] for t, classes in DECODER_CLASSES.items()}}


class AutoModelForSequenceClassification(AutoModelFactory):
    _mapping = {**_encoders("ForSequenceClassification"), **{t: classes[2] for t, classes in DECODER_CLASSES.items()}}


class AutoModelForTokenClassification(AutoModelFactory):
    _mapping = _encoders("ForTokenClassification")


class AutoModelForQuestionAnswering(AutoModelFactory):
    _mapping = _encoders("ForQuestionAnswering")


class AutoModelForPreTraining(AutoModelFactory):
    _mapping = _encoders("ForPreTraining")


class AutoModelForImageClassification(AutoModelFactory):
    _mapping = {"vit": ViTForImageClassification}


class AutoModelForSeq2SeqLM(AutoModelFactory):
    _mapping = {"t5": T5ForConditionalGeneration}


class AutoModelForTextEncoding(AutoModelFactory):
    _mapping = {"t5": T5EncoderModel}
