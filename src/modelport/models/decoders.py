"""What sets the Llama-family decoders apart, as registered data that every adapter's models read.

Llama, Mistral, Qwen2 and Gemma share one layout (embeddings, decoder layers
of RMSNorm, grouped-query attention with rotary positions and a gated MLP, a
final norm, a head) and the same parameter names. They differ in a handful of
facts: which projections have biases, the head size, sliding windows, Gemma's
``1 + weight`` norm and scaled embeddings. Each adapter implements the layout
once and looks the facts up here by ``model_type``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..modeling.depth import register_repeated_layers
from ..modeling.ties import TiedWeights, register_base_model, register_computed_buffer, register_ties

__all__ = ["DecoderFacts", "DECODERS", "register_decoder", "decoder_facts", "is_inverse_frequencies", "add_decoder_classes"]


def _standard_head_dim(config: Any) -> int:
    return int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)


def _no_window(config: Any, layer: int) -> int | None:
    return None


@dataclass(frozen=True)
class DecoderFacts:
    """One architecture's departures from the shared decoder layout (defaults: Llama's)."""

    qkv_bias: Callable[[Any], bool] = lambda config: bool(getattr(config, "attention_bias", False))
    output_bias: Callable[[Any], bool] = lambda config: bool(getattr(config, "attention_bias", False))
    mlp_bias: Callable[[Any], bool] = lambda config: bool(getattr(config, "mlp_bias", False))
    head_dim: Callable[[Any], int] = _standard_head_dim
    #: the attention window of layer i (None: the whole causal past)
    sliding_window: Callable[[Any, int], int | None] = _no_window
    #: RMSNorm multiplies by ``offset + weight`` (Gemma: 1, its weights start at 0) and computes in float32
    norm_offset: float = 0.0
    #: the embeddings are multiplied by sqrt(hidden_size), rounded to the hidden dtype (Gemma)
    scales_embeddings: bool = False


DECODERS: dict[str, DecoderFacts] = {}


def register_decoder(model_type: str, facts: DecoderFacts) -> None:
    DECODERS[model_type] = facts


def decoder_facts(config: Any) -> DecoderFacts:
    """The facts of ``config.model_type``; a ConfigError for a type that is not a registered decoder."""
    facts = DECODERS.get(getattr(config, "model_type", ""))
    if facts is None:
        raise ConfigError("not a Llama-family decoder", where=type(config).__name__, expected="one of " + ", ".join(sorted(DECODERS)),
                          received=getattr(config, "model_type", None))
    return facts


def add_decoder_classes(by_name: dict[str, Any], by_type: dict[str, Any], classes: dict[str, tuple[Any, ...]],
                        prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """An adapter's architecture tables with its Llama-family classes added: by PyTorch class name (``TFLlamaModel``
    under ``LlamaModel``, as checkpoints record it) and, for each model_type, its bare model (the first class)."""
    for model_type, family in classes.items():
        by_name.update({cls.__name__.removeprefix(prefix): cls for cls in family})
        by_type[model_type] = family[0]
    return by_name, by_type


def is_inverse_frequencies(array: np.ndarray) -> bool:
    """A stored ``rotary_emb.inv_freq`` (older Llama ``.bin`` files): 1, then a constant ratio, as the model computes."""
    if array.ndim != 1 or array.size < 2 or not np.issubdtype(array.dtype, np.floating) or array[0] != 1:
        return False
    ratios = array[1:].astype(np.float64) / array[:-1].astype(np.float64)
    return bool(np.all(ratios > 0) and np.all(ratios < 1) and np.allclose(ratios, ratios[0], rtol=1e-4))


def _register_family(model_type: str, name: str, facts: DecoderFacts) -> None:
    register_decoder(model_type, facts)
    register_base_model(f"{name}Model", "model")
    register_ties(f"{name}ForCausalLM", TiedWeights(when_flag={"lm_head.weight": "model.embed_tokens.weight"}))
    register_computed_buffer(model_type, r"(^|\.)rotary_emb\.inv_freq$", is_inverse_frequencies)
    register_repeated_layers(model_type, "num_hidden_layers")


_register_family("llama", "Llama", DecoderFacts())
_register_family("mistral", "Mistral", DecoderFacts(qkv_bias=lambda c: False, output_bias=lambda c: False, mlp_bias=lambda c: False,
                                                    sliding_window=lambda c, layer: c.sliding_window))
_register_family("qwen2", "Qwen2", DecoderFacts(
    qkv_bias=lambda c: True, output_bias=lambda c: False, mlp_bias=lambda c: False,
    head_dim=lambda c: int(getattr(c, "head_dim", c.hidden_size // c.num_attention_heads)),
    sliding_window=lambda c, layer: c.sliding_window if c.layer_types[layer] == "sliding_attention" else None))
_register_family("gemma", "Gemma", DecoderFacts(mlp_bias=lambda c: False, head_dim=lambda c: int(c.head_dim), norm_offset=1.0,
                                                scales_embeddings=True))
