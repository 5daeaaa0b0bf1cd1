"""Reference models: BERT, GPT-2 and the Llama family with transformers 4.x's names, shapes and outputs."""

from .bert import (
    BERT_CLASSES,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
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
