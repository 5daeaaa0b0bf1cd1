"""Reference models: BERT, GPT-2 and the Llama family in Flax linen with transformers 4.x's parameter trees and outputs."""

from modelport.models.encoders import encoder_classes

from .albert import ALBERT_CLASSES
from .bert import (
    BERT_CLASSES,
    FlaxBertForMaskedLM,
    FlaxBertForQuestionAnswering,
    FlaxBertForSequenceClassification,
    FlaxBertForTokenClassification,
    FlaxBertModel,
)
from .distilbert import (
    DISTILBERT_CLASSES,
    FlaxDistilBertForMaskedLM,
    FlaxDistilBertForQuestionAnswering,
    FlaxDistilBertForSequenceClassification,
    FlaxDistilBertForTokenClassification,
    FlaxDistilBertModel,
)
from .electra import ELECTRA_CLASSES
from .gpt2 import FlaxGPT2LMHeadModel, FlaxGPT2Model
from .llama import (
    DECODER_CLASSES,
    FlaxGemmaForCausalLM,
    FlaxGemmaForSequenceClassification,
    FlaxGemmaModel,
    FlaxLlamaForCausalLM,
    FlaxLlamaForSequenceClassification,
    FlaxLlamaModel,
    FlaxMistralForCausalLM,
    FlaxMistralForSequenceClassification,
    FlaxMistralModel,
    FlaxQwen2ForCausalLM,
    FlaxQwen2ForSequenceClassification,
    FlaxQwen2Model,
)
from .roberta import (
    ROBERTA_CLASSES,
    FlaxCamembertForMaskedLM,
    FlaxCamembertForQuestionAnswering,
    FlaxCamembertForSequenceClassification,
    FlaxCamembertForTokenClassification,
    FlaxCamembertModel,
    FlaxRobertaForMaskedLM,
    FlaxRobertaForQuestionAnswering,
    FlaxRobertaForSequenceClassification,
    FlaxRobertaForTokenClassification,
    FlaxRobertaModel,
    FlaxXLMRobertaForMaskedLM,
    FlaxXLMRobertaForQuestionAnswering,
    FlaxXLMRobertaForSequenceClassification,
    FlaxXLMRobertaForTokenClassification,
    FlaxXLMRobertaModel,
)
from .t5 import T5_CLASSES, FlaxT5EncoderModel, FlaxT5ForConditionalGeneration, FlaxT5Model
from .vit import VIT_CLASSES, FlaxViTForImageClassification, FlaxViTModel

__all__ = ["BERT_CLASSES", "FlaxBertModel", "FlaxBertForMaskedLM", "FlaxBertForSequenceClassification", "FlaxBertForTokenClassification",
           "FlaxBertForQuestionAnswering", "FlaxGPT2Model", "FlaxGPT2LMHeadModel", "DECODER_CLASSES",
           "FlaxLlamaModel",
           "FlaxLlamaForCausalLM",
           "FlaxLlamaForSequenceClassification",
           "FlaxMistralModel",
           "FlaxMistralForCausalLM",
           "FlaxMistralForSequenceClassification",
           "FlaxQwen2Model",
           "FlaxQwen2ForCausalLM",
           "FlaxQwen2ForSequenceClassification",
           "FlaxGemmaModel",
           "FlaxGemmaForCausalLM",
           "FlaxGemmaForSequenceClassification",
]
__all__ += ["ROBERTA_CLASSES", "ENCODER_CLASSES", "FlaxRobertaModel", "FlaxRobertaForMaskedLM",
           "FlaxRobertaForSequenceClassification", "FlaxRobertaForTokenClassification",
           "FlaxRobertaForQuestionAnswering", "FlaxXLMRobertaModel", "FlaxXLMRobertaForMaskedLM",
           "FlaxXLMRobertaForSequenceClassification", "FlaxXLMRobertaForTokenClassification",
           "FlaxXLMRobertaForQuestionAnswering", "FlaxCamembertModel", "FlaxCamembertForMaskedLM",
           "FlaxCamembertForSequenceClassification", "FlaxCamembertForTokenClassification",
           "FlaxCamembertForQuestionAnswering"]

#: model_type -> head suffix ("Model", "ForMaskedLM", ...) -> class, for the BERT family (auto classes, architectures())
ENCODER_CLASSES = encoder_classes({**BERT_CLASSES, **ROBERTA_CLASSES, **DISTILBERT_CLASSES, **ALBERT_CLASSES, **ELECTRA_CLASSES})
__all__ += ["DISTILBERT_CLASSES", "FlaxDistilBertModel", "FlaxDistilBertForMaskedLM", "FlaxDistilBertForSequenceClassification",
           "FlaxDistilBertForTokenClassification", "FlaxDistilBertForQuestionAnswering"]
__all__ += ["ALBERT_CLASSES", "ELECTRA_CLASSES", *(c.__name__ for c in ALBERT_CLASSES.values()),
            *(c.__name__ for c in ELECTRA_CLASSES.values())]
globals().update({c.__name__: c for c in ALBERT_CLASSES.values()})
globals().update({c.__name__: c for c in ELECTRA_CLASSES.values()})
__all__ += ["VIT_CLASSES", "FlaxViTModel", "FlaxViTForImageClassification"]
__all__ += ["T5_CLASSES", "FlaxT5Model", "FlaxT5ForConditionalGeneration", "FlaxT5EncoderModel"]
