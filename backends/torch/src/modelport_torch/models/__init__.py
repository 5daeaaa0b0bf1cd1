"""Reference models: BERT, GPT-2 and the Llama family with transformers 4.x's names, shapes and outputs."""

from modelport.models.encoders import encoder_classes

from .albert import ALBERT_CLASSES
from .bert import (
    BERT_CLASSES,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from .distilbert import (
    DISTILBERT_CLASSES,
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from .electra import ELECTRA_CLASSES
from .gpt2 import GPT2LMHeadModel, GPT2Model
from .llama import (
    DECODER_CLASSES,
    GemmaForCausalLM,
    GemmaForSequenceClassification,
    GemmaModel,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaModel,
    MistralForCausalLM,
    MistralForSequenceClassification,
    MistralModel,
    Qwen2ForCausalLM,
    Qwen2ForSequenceClassification,
    Qwen2Model,
)
from .roberta import (
    ROBERTA_CLASSES,
    CamembertForMaskedLM,
    CamembertForQuestionAnswering,
    CamembertForSequenceClassification,
    CamembertForTokenClassification,
    CamembertModel,
    RobertaForMaskedLM,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
    RobertaModel,
    XLMRobertaForMaskedLM,
    XLMRobertaForQuestionAnswering,
    XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification,
    XLMRobertaModel,
)
from .t5 import T5_CLASSES, T5EncoderModel, T5ForConditionalGeneration, T5Model
from .vit import VIT_CLASSES, ViTForImageClassification, ViTModel

__all__ = ["BERT_CLASSES", "BertModel", "BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification",
           "BertForQuestionAnswering", "GPT2Model", "GPT2LMHeadModel", "DECODER_CLASSES",
           "LlamaModel",
           "LlamaForCausalLM",
           "LlamaForSequenceClassification",
           "MistralModel",
           "MistralForCausalLM",
           "MistralForSequenceClassification",
           "Qwen2Model",
           "Qwen2ForCausalLM",
           "Qwen2ForSequenceClassification",
           "GemmaModel",
           "GemmaForCausalLM",
           "GemmaForSequenceClassification",
]
__all__ += ["ROBERTA_CLASSES", "ENCODER_CLASSES", "RobertaModel", "RobertaForMaskedLM", "RobertaForSequenceClassification",
           "RobertaForTokenClassification", "RobertaForQuestionAnswering", "XLMRobertaModel", "XLMRobertaForMaskedLM",
           "XLMRobertaForSequenceClassification", "XLMRobertaForTokenClassification", "XLMRobertaForQuestionAnswering",
           "CamembertModel", "CamembertForMaskedLM", "CamembertForSequenceClassification",
           "CamembertForTokenClassification", "CamembertForQuestionAnswering"]

#: model_type -> head suffix ("Model", "ForMaskedLM", ...) -> class, for the BERT family (auto classes, architectures())
ENCODER_CLASSES = encoder_classes({**BERT_CLASSES, **ROBERTA_CLASSES, **DISTILBERT_CLASSES, **ALBERT_CLASSES, **ELECTRA_CLASSES})
__all__ += ["DISTILBERT_CLASSES", "DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
           "DistilBertForTokenClassification", "DistilBertForQuestionAnswering"]
__all__ += ["ALBERT_CLASSES", "ELECTRA_CLASSES", *(c.__name__ for c in ALBERT_CLASSES.values()),
            *(c.__name__ for c in ELECTRA_CLASSES.values())]
globals().update({c.__name__: c for c in ALBERT_CLASSES.values()})
globals().update({c.__name__: c for c in ELECTRA_CLASSES.values()})
__all__ += ["VIT_CLASSES", "ViTModel", "ViTForImageClassification"]
__all__ += ["T5_CLASSES", "T5Model", "T5ForConditionalGeneration", "T5EncoderModel"]
