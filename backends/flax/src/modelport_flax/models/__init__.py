"""Reference models: BERT, GPT-2 and the Llama family in Flax linen with transformers 4.x's parameter trees and outputs."""

from .bert import (
    BERT_CLASSES,
    FlaxBertForMaskedLM,
    FlaxBertForQuestionAnswering,
    FlaxBertForSequenceClassification,
    FlaxBertForTokenClassification,
    FlaxBertModel,
)
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
