"""DistilBERT's configuration, with transformers 4.x's attribute names and defaults (distilbert-base-uncased), and the
facts every adapter shares (base-model prefix, the MLM head's tie, computed buffers)."""

from __future__ import annotations

from typing import Any

from ..config import PretrainedConfig
from ..modeling.depth import register_repeated_layers
from ..modeling.ties import TiedWeights, is_position_ids, register_base_model, register_computed_buffer, register_ties

__all__ = ["DistilBertConfig"]


class DistilBertConfig(PretrainedConfig):
    """Configuration of DistilBERT models: BERT's encoder with its own names (``dim``, ``n_layers``...), no token
    types, no pooler, and layer norms of epsilon 1e-12.

    Example:
        >>> DistilBertConfig(dim=384).hidden_size
        384
    """

    model_type = "distilbert"
    attribute_map = {"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"}

    def __init__(
        self,
        vocab_size: int = 30522,
        max_position_embeddings: int = 512,
        sinusoidal_pos_embds: bool = False,
        n_layers: int = 6,
        n_heads: int = 12,
        dim: int = 768,
        hidden_dim: int = 4 * 768,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        activation: str = "gelu",
        initializer_range: float = 0.02,
        qa_dropout: float = 0.1,
        seq_classif_dropout: float = 0.2,
        pad_token_id: int = 0,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.sinusoidal_pos_embds = sinusoidal_pos_embds
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dim = dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation = activation
        self.initializer_range = initializer_range
        self.qa_dropout = qa_dropout
        self.seq_classif_dropout = seq_classif_dropout
        super().__init__(**kwargs, pad_token_id=pad_token_id)


register_base_model("DistilBertModel", "distilbert")
# the MLM projector's weight is the word embeddings (unless the config unties them); its bias is its own
register_ties("DistilBertForMaskedLM", TiedWeights(when_flag={"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}))
register_computed_buffer("distilbert", r"(^|\.)embeddings\.position_ids$", is_position_ids)
register_repeated_layers("distilbert", "n_layers")
