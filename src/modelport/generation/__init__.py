"""Text generation shared by the adapters: the settings (:class:`GenerationConfig`) and the logits processors,
written once over an array namespace each adapter passes in."""

from .config import GENERATION_CONFIG_NAME, GenerationConfig

__all__ = ["GENERATION_CONFIG_NAME", "GenerationConfig"]
