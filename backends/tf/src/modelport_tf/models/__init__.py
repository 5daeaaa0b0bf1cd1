"""Reference models with transformers 4.x's TF names and outputs."""

from .bert import TFBertForMaskedLM, TFBertModel
from .gpt2 import TFGPT2LMHeadModel, TFGPT2Model

__all__ = ["TFBertModel", "TFBertForMaskedLM", "TFGPT2Model", "TFGPT2LMHeadModel"]
