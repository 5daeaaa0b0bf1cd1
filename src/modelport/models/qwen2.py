"""Qwen2's configuration, with transformers 4.57.6's attribute names and defaults."""

from __future__ import annotations

from typing import Any

from ..config import PretrainedConfig
from ..errors import ConfigError
from .rope import validate_rope_scaling

__all__ = ["Qwen2Config", "LAYER_TYPES"]

#: what each entry of ``layer_types`` may say (transformers' allowed attention kinds)
LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention", "linear_attention")


class Qwen2Config(PretrainedConfig):
    """Configuration of Qwen2 models: Llama's layers with q/k/v biases and optional sliding windows.

    ``sliding_window`` is kept only when ``use_sliding_window`` is true (else
    None). ``layer_types`` defaults to sliding attention from layer
    ``max_window_layers`` on when a window is set, full attention elsewhere.

    Example:
        >>> Qwen2Config(num_hidden_layers=3, use_sliding_window=True, max_window_layers=2).layer_types
        ['full_attention', 'full_attention', 'sliding_attention']
    """

    model_type = "qwen2"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vocab_size: int = 151936,
        hidden_size: int = 4096,
        intermediate_size: int = 22016,
        num_hidden_layers: int = 32,
        num_attention_heads: int = 32,
        num_key_value_heads: int | None = 32,
        hidden_act: str = "silu",
        max_position_embeddings: int = 32768,
        initializer_range: float = 0.02,
        rms_norm_eps: float = 1e-6,
        use_cache: bool = True,
        tie_word_embeddings: bool = False,
        rope_theta: float = 10000.0,
        rope_scaling: dict[str, Any] | None = None,
        use_sliding_window: bool = False,
        sliding_window: int | None = 4096,
        max_window_layers: int = 28,
        layer_types: list[str] | None = None,
        attention_dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.use_sliding_window = use_sliding_window
        self.sliding_window = sliding_window if use_sliding_window else None
        self.max_window_layers = max_window_layers
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.rope_theta = rope_theta
        self.rope_scaling = validate_rope_scaling(rope_scaling, "Qwen2Config")
        self.attention_dropout = attention_dropout
        if layer_types is None:
            layer_types = ["sliding_attention" if self.sliding_window is not None and i >= max_window_layers else "full_attention"
                           for i in range(num_hidden_layers)]
        self.layer_types = _checked_layer_types(list(layer_types), num_hidden_layers)
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)


def _checked_layer_types(layer_types: list[str], num_hidden_layers: int) -> list[str]:
    unknown = sorted({kind for kind in layer_types if kind not in LAYER_TYPES})
    if unknown:
        raise ConfigError("unknown layer_types entries", where="Qwen2Config", expected="each one of " + ", ".join(LAYER_TYPES),
                          received=", ".join(map(repr, unknown)))
    if len(layer_types) != num_hidden_layers:
        raise ConfigError("layer_types needs one entry per layer", where="Qwen2Config", expected=f"{num_hidden_layers} entries",
                          received=f"{len(layer_types)}", fix="Give one attention kind per hidden layer, or leave layer_types out.")
    return layer_types
