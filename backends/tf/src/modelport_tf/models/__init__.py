"""Reference models: BERT, GPT-2 and the Llama family on Keras 3 with transformers 4.x's TF variable names and outputs."""

from modelport.models.encoders import encoder_classes

from .albert import ALBERT_CLASSES
from .bert import (
    BERT_CLASSES,
    TFBertForMaskedLM,
    TFBertForQuestionAnswering,
    TFBertForSequenceClassification,
    TFBertForTokenClassification,
    TFBertModel,
)
from .distilbert import (
    DISTILBERT_CLASSES,
    TFDistilBertForMaskedLM,
    TFDistilBertForQuestionAnswering,
    TFDistilBertForSequenceClassification,
    TFDistilBertForTokenClassification,
    TFDistilBertModel,
)
from .electra import ELECTRA_CLASSES
from .gpt2 import TFGPT2LMHeadModel, TFGPT2Model
from .llama import (
    DECODER_CLASSES,
    TFGemmaForCausalLM,
    TFGemmaForSequenceClassification,
    TFGemmaModel,
    TFLlamaForCausalLM,
    TFLlamaForSequenceClassification,
    TFLlamaModel,
    TFMistralForCausalLM,
    TFMistralForSequenceClassification,
    TFMistralModel,
    TFQwen2ForCausalLM,
    TFQwen2ForSequenceClassification,
    TFQwen2Model,
)
from .roberta import (
    ROBERTA_CLASSES,
    TFCamembertForMaskedLM,
    TFCamembertForQuestionAnswering,
    TFCamembertForSequenceClassification,
    TFCamembertForTokenClassification,
    TFCamembertModel,
    TFRobertaForMaskedLM,
    TFRobertaForQuestionAnswering,
    TFRobertaForSequenceClassification,
    TFRobertaForTokenClassification,
    TFRobertaModel,
    TFXLMRobertaForMaskedLM,
    TFXLMRobertaForQuestionAnswering,
    TFXLMRobertaForSequenceClassification,
    TFXLMRobertaForTokenClassification,
    TFXLMRobertaModel,
)
from .t5 import T5_CLASSES, TFT5EncoderModel, TFT5ForConditionalGeneration, TFT5Model
from .vit import VIT_CLASSES, TFViTForImageClassification, TFViTModel

__all__ = ["BERT_CLASSES", "TFBertModel", "TFBertForMaskedLM", "TFBertForSequenceClassification", "TFBertForTokenClassification",
           "TFBertForQuestionAnswering", "TFGPT2Model", "TFGPT2LMHeadModel", "DECODER_CLASSES",
           "TFLlamaModel",
           "TFLlamaForCausalLM",
           "TFLlamaForSequenceClassification",
           "TFMistralModel",
           "TFMistralForCausalLM",
           "TFMistralForSequenceClassification",
           "TFQwen2Model",
           "TFQwen2ForCausalLM",
           "TFQwen2ForSequenceClassification",
           "TFGemmaModel",
           "TFGemmaForCausalLM",
           "TFGemmaForSequenceClassification",
]
__all__ += ["ROBERTA_CLASSES", "ENCODER_CLASSES", "TFRobertaModel", "TFRobertaForMaskedLM", "TFRobertaForSequenceClassification",
           "TFRobertaForTokenClassification", "TFRobertaForQuestionAnswering", "TFXLMRobertaModel",
           "TFXLMRobertaForMaskedLM", "TFXLMRobertaForSequenceClassification", "TFXLMRobertaForTokenClassification",
           "TFXLMRobertaForQuestionAnswering", "TFCamembertModel", "TFCamembertForMaskedLM",
           "TFCamembertForSequenceClassification", "TFCamembertForTokenClassification",
           "TFCamembertForQuestionAnswering"]

#: model_type -> head suffix ("Model", "ForMaskedLM", ...) -> class, for the BERT family (auto classes, architectures())
ENCODER_CLASSES = encoder_classes({**BERT_CLASSES, **ROBERTA_CLASSES, **DISTILBERT_CLASSES, **ALBERT_CLASSES, **ELECTRA_CLASSES})
__all__ += ["DISTILBERT_CLASSES", "TFDistilBertModel", "TFDistilBertForMaskedLM", "TFDistilBertForSequenceClassification",
           "TFDistilBertForTokenClassification", "TFDistilBertForQuestionAnswering"]
__all__ += ["ALBERT_CLASSES", "ELECTRA_CLASSES", *(c.__name__ for c in ALBERT_CLASSES.values()),
            *(c.__name__ for c in ELECTRA_CLASSES.values())]
globals().update({c.__name__: c for c in ALBERT_CLASSES.values()})
globals().update({c.__name__: c for c in ELECTRA_CLASSES.values()})
__all__ += ["VIT_CLASSES", "TFViTModel", "TFViTForImageClassification"]
__all__ += ["T5_CLASSES", "TFT5Model", "TFT5ForConditionalGeneration", "TFT5EncoderModel"]
