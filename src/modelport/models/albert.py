"""ALBERT's configuration, with transformers 4.x's attribute names and defaults (albert-xxlarge), and the facts every
adapter shares (base-model prefix, the MLM head's ties, computed buffers).

ALBERT is BERT with two savings: the embeddings are ``embedding_size`` wide and
projected to the hidden size (``encoder.embedding_hidden_mapping_in``), and the
``num_hidden_layers`` steps share the weights of ``num_hidden_groups`` groups
of ``inner_group_num`` layers each; step ``i`` runs group
``i * num_hidden_groups // num_hidden_layers``.
"""

from __future__ import annotations

from typing import Any

from ..config import PretrainedConfig
from ..modeling.depth import register_repeated_layers
from ..modeling.ties import TiedWeights, is_position_ids, is_zeros, register_base_model, register_computed_buffer, register_ties

__all__ = ["AlbertConfig"]


class AlbertConfig(PretrainedConfig):
    """Configuration of ALBERT models (defaults: albert-xxlarge-v2).

    Example:
        >>> AlbertConfig(hidden_size=768, num_attention_heads=12).embedding_size
        128
    """

    model_type = "albert"

    def __init__(
        self,
        vocab_size: int = 30000,
        embedding_size: int = 128,
        hidden_size: int = 4096,
        num_hidden_layers: int = 12,
        num_hidden_groups: int = 1,
        num_attention_heads: int = 64,
        intermediate_size: int = 16384,
        inner_group_num: int = 1,
        hidden_act: str = "gelu_new",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        classifier_dropout_prob: float | None = 0.1,
        position_embedding_type: str = "absolute",
        pad_token_id: int = 0,
        bos_token_id: int = 2,
        eos_token_id: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_hidden_groups = num_hidden_groups
        self.num_attention_heads = num_attention_heads
        self.inner_group_num = inner_group_num
        self.hidden_act = hidden_act
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.classifier_dropout_prob = classifier_dropout_prob
        self.position_embedding_type = position_embedding_type


def albert_group_of_step(config: Any, step: int) -> int:
    """The layer group that step ``step`` (of ``num_hidden_layers``) runs, as transformers computes it."""
    return int(step / (config.num_hidden_layers / config.num_hidden_groups))


register_base_model("AlbertModel", "albert")
# the MLM decoder projects onto the word embeddings (unless the config unties them); its bias is the head's
register_ties("AlbertForMaskedLM", TiedWeights(
    when_flag={"predictions.decoder.weight": "albert.embeddings.word_embeddings.weight"},
    always={"predictions.decoder.bias": "predictions.bias"},
))
register_computed_buffer("albert", r"(^|\.)embeddings\.position_ids$", is_position_ids)
register_computed_buffer("albert", r"(^|\.)embeddings\.token_type_ids$", is_zeros)
register_repeated_layers("albert", "num_hidden_groups")  # the groups are the list that grows
