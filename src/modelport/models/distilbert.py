"""DistilBERT's configuration, with transformers 4.x's attribute names and defaults (distilbert-base-uncased), and the
facts every adapter shares (base-model prefix, the MLM head's tie, computed buffers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import PretrainedConfig
from ..modeling.depth import register_repeated_layers
from ..modeling.ties import (
    TiedWeights,
    is_position_ids,
    register_base_model,
    register_computed_buffer,
    register_computed_weight,
    register_ties,
)

__all__ = ["DistilBertConfig", "sinusoidal_positions", "is_sinusoidal_positions", "SINUSOIDAL_TABLE"]


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


#: the position table's name, which models with ``sinusoidal_pos_embds=True`` compute rather than learn
SINUSOIDAL_TABLE = r"(^|\.)embeddings\.position_embeddings\.weight$"  # canonical name


def sinusoidal_positions(positions: int, width: int) -> np.ndarray:
    """``[positions, width]`` float32 table of ``sinusoidal_pos_embds=True``: sines on the even columns, cosines on
    the odd ones, of ``position / 10000 ** (2 * (column // 2) / width)``, as transformers' PyTorch DistilBERT fills
    it (in float64, then cast)."""
    angles = np.arange(positions)[:, None] / np.power(10000, 2 * (np.arange(width) // 2) / width)[None, :]
    table = np.empty((positions, width), np.float32)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table


def is_sinusoidal_positions(array: np.ndarray) -> bool:
    """The table :func:`sinusoidal_positions` computes for this shape (within float32 rounding)."""
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        return False
    return bool(np.allclose(array.astype(np.float32), sinusoidal_positions(*array.shape), atol=1e-6, rtol=0))


register_base_model("DistilBertModel", "distilbert")
# the MLM projector's weight is the word embeddings (unless the config unties them); its bias is its own
register_ties("DistilBertForMaskedLM", TiedWeights(when_flag={"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}))
register_computed_buffer("distilbert", r"(^|\.)embeddings\.position_ids$", is_position_ids)
# sinusoidal_pos_embds: Flax computes the table (transformers' Flax DistilBERT stores none), PyTorch and TF store it;
# a stored table is checked to be the sinusoids, a missing one is made
register_computed_buffer("distilbert", SINUSOIDAL_TABLE, is_sinusoidal_positions)
register_computed_weight("distilbert", SINUSOIDAL_TABLE, "sinusoidal_interleaved", when="sinusoidal_pos_embds")
register_repeated_layers("distilbert", "n_layers")
