"""Reference models: BERT and GPT-2 in Flax linen with transformers 4.x's parameter trees and outputs."""

from .bert import FlaxBertForMaskedLM, FlaxBertModel
from .gpt2 import FlaxGPT2LMHeadModel, FlaxGPT2Model

__all__ = ["FlaxBertModel", "FlaxBertForMaskedLM", "FlaxGPT2Model", "FlaxGPT2LMHeadModel"]
