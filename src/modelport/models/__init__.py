"""Configurations of the reference architectures (the models live in the adapters)."""

from . import decoders  # noqa: F401  (registers the Llama family's facts)
from .albert import AlbertConfig
from .bert import BertConfig
from .distilbert import DistilBertConfig
from .electra import ElectraConfig
from .gemma import GemmaConfig
from .gpt2 import GPT2Config
from .llama import LlamaConfig
from .mistral import MistralConfig
from .qwen2 import Qwen2Config
from .roberta import CamembertConfig, RobertaConfig, XLMRobertaConfig
from .t5 import T5Config
from .vit import ViTConfig

__all__ = ["BertConfig", "RobertaConfig", "XLMRobertaConfig", "CamembertConfig", "DistilBertConfig", "AlbertConfig",
           "ElectraConfig", "ViTConfig", "T5Config", "GPT2Config", "LlamaConfig", "MistralConfig", "Qwen2Config", "GemmaConfig"]
