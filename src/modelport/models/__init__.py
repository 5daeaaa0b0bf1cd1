"""Configurations of the reference architectures (the models live in the adapters)."""

from .bert import BertConfig
from .gpt2 import GPT2Config

__all__ = ["BertConfig", "GPT2Config"]
