"""GPT-2's configuration, with transformers 4.x's attribute names, aliases and defaults."""

from __future__ import annotations

from typing import Any

from ..config import PretrainedConfig
from ..modeling.depth import register_repeated_layers
from ..modeling.ties import TiedWeights, is_causal_mask, is_masked_bias, register_base_model, register_computed_buffer, register_ties

__all__ = ["GPT2Config"]


class GPT2Config(PretrainedConfig):
    """Configuration of GPT-2 models (defaults: gpt2 small).

    ``hidden_size``, ``max_position_embeddings``, ``num_attention_heads`` and
    ``num_hidden_layers`` are aliases of ``n_embd``, ``n_positions``, ``n_head``
    and ``n_layer``, as in transformers.

    Example:
        >>> config = GPT2Config(n_embd=64)
        >>> config.hidden_size
        64
    """

    model_type = "gpt2"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {
        "hidden_size": "n_embd",
        "max_position_embeddings": "n_positions",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    }

    def __init__(
        self,
        vocab_size: int = 50257,
        n_positions: int = 1024,
        n_embd: int = 768,
        n_layer: int = 12,
        n_head: int = 12,
        n_inner: int | None = None,
        activation_function: str = "gelu_new",
        resid_pdrop: float = 0.1,
        embd_pdrop: float = 0.1,
        attn_pdrop: float = 0.1,
        layer_norm_epsilon: float = 1e-5,
        initializer_range: float = 0.02,
        summary_type: str = "cls_index",
        summary_use_proj: bool = True,
        summary_activation: str | None = None,
        summary_proj_to_labels: bool = True,
        summary_first_dropout: float = 0.1,
        scale_attn_weights: bool = True,
        use_cache: bool = True,
        bos_token_id: int = 50256,
        eos_token_id: int = 50256,
        scale_attn_by_inverse_layer_idx: bool = False,
        reorder_and_upcast_attn: bool = False,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.n_positions = n_positions
        self.n_embd = n_embd
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_inner = n_inner
        self.activation_function = activation_function
        self.resid_pdrop = resid_pdrop
        self.embd_pdrop = embd_pdrop
        self.attn_pdrop = attn_pdrop
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.summary_type = summary_type
        self.summary_use_proj = summary_use_proj
        self.summary_activation = summary_activation
        self.summary_first_dropout = summary_first_dropout
        self.summary_proj_to_labels = summary_proj_to_labels
        self.scale_attn_weights = scale_attn_weights
        self.use_cache = use_cache
        self.scale_attn_by_inverse_layer_idx = scale_attn_by_inverse_layer_idx
        self.reorder_and_upcast_attn = reorder_and_upcast_attn
        super().__init__(bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)


register_base_model("GPT2Model", "transformer")
register_ties("GPT2LMHeadModel", TiedWeights(when_flag={"lm_head.weight": "transformer.wte.weight"}))
# The causal mask and the masking constant older transformers versions saved; the models compute them.
register_computed_buffer("gpt2", r"(^|\.)attn\.bias$", is_causal_mask)
register_computed_buffer("gpt2", r"(^|\.)attn\.masked_bias$", is_masked_bias)
register_repeated_layers("gpt2", "n_layer")
