"""Reference models: BERT and GPT-2 with transformers 4.x's names, shapes and outputs."""

from .bert import BertForMaskedLM, BertModel
from .gpt2 import GPT2LMHeadModel, GPT2Model

__all__ = ["BertModel", "BertForMaskedLM", "GPT2Model", "GPT2LMHeadModel"]
