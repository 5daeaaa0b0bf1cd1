"""Configurations of the reference architectures (the models live in the adapters)."""

from . import decoders  # noqa: F401  (registers the Llama family's facts)
from .bert import BertConfig
from .gemma import GemmaConfig
from .gpt2 import GPT2Config
from .llama import LlamaConfig
from .mistral import MistralConfig
from .qwen2 import Qwen2Config

__all__ = ["BertConfig", "GPT2Config", "LlamaConfig", "MistralConfig", "Qwen2Config", "GemmaConfig"]
