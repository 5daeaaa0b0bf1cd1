"""BERT's configuration, with transformers 4.x's attribute names and defaults."""

from __future__ import annotations

from typing import Any

from ..config import PretrainedConfig
from ..modeling.depth import register_repeated_layers
from ..modeling.ties import TiedWeights, is_position_ids, is_zeros, register_base_model, register_computed_buffer, register_ties

__all__ = ["BertConfig"]


class BertConfig(PretrainedConfig):
    """Configuration of BERT models (defaults: bert-base-uncased).

    Example:
        >>> BertConfig(hidden_size=384, num_hidden_layers=6).intermediate_size
        3072
    """

    model_type = "bert"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        position_embedding_type: str = "absolute",
        use_cache: bool = True,
        classifier_dropout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.hidden_act = hidden_act
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.position_embedding_type = position_embedding_type
        self.use_cache = use_cache
        self.classifier_dropout = classifier_dropout


register_base_model("BertModel", "bert")
# The MLM decoder projects onto the word embeddings (unless the config unties them); its bias is the head's.
register_ties("BertForMaskedLM", TiedWeights(
    when_flag={"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"},
    always={"cls.predictions.decoder.bias": "cls.predictions.bias"},
))
# Buffers older transformers versions saved; the models compute them.
register_computed_buffer("bert", r"(^|\.)embeddings\.position_ids$", is_position_ids)
register_computed_buffer("bert", r"(^|\.)embeddings\.token_type_ids$", is_zeros)
register_repeated_layers("bert", "num_hidden_layers")
