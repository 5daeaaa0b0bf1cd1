"""Reference models: BERT, GPT-2 and the Llama family on Keras 3 with transformers 4.x's TF variable names and outputs."""

from .bert import (
    BERT_CLASSES,
    TFBertForMaskedLM,
    TFBertForQuestionAnswering,
    TFBertForSequenceClassification,
    TFBertForTokenClassification,
    TFBertModel,
)
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
