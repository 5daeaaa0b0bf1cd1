"""ELECTRA's configuration, with transformers 4.x's attribute names and defaults (electra-small discriminator), and
the facts every adapter shares (base-model prefix, the generator head's tie, computed buffers).

ELECTRA is BERT's encoder behind ``embedding_size``-wide embeddings, projected
to the hidden size by ``embeddings_project`` when the two differ, with no
pooler. The discriminator (``ForPreTraining``) scores each token as replaced
or original; the generator (``ForMaskedLM``) predicts masked tokens through a
narrow head tied to the word embeddings.
"""

from __future__ import annotations

from typing import Any

from ..modeling.depth import register_repeated_layers
from ..modeling.ties import TiedWeights, is_position_ids, is_zeros, register_base_model, register_computed_buffer, register_ties
from .bert import BertConfig

__all__ = ["ElectraConfig"]


class ElectraConfig(BertConfig):
    """Configuration of ELECTRA models (defaults: google/electra-small-discriminator's shape).

    Example:
        >>> ElectraConfig().embedding_size
        128
    """

    model_type = "electra"

    def __init__(
        self,
        vocab_size: int = 30522,
        embedding_size: int = 128,
        hidden_size: int = 256,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 4,
        intermediate_size: int = 1024,
        summary_type: str = "first",
        summary_use_proj: bool = True,
        summary_activation: str = "gelu",
        summary_last_dropout: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
                         num_attention_heads=num_attention_heads, intermediate_size=intermediate_size, **kwargs)
        self.embedding_size = embedding_size
        self.summary_type = summary_type
        self.summary_use_proj = summary_use_proj
        self.summary_activation = summary_activation
        self.summary_last_dropout = summary_last_dropout


register_base_model("ElectraModel", "electra")
# the generator's output layer is the word embeddings (unless the config unties them); its bias is its own
register_ties("ElectraForMaskedLM", TiedWeights(
    when_flag={"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}))
register_computed_buffer("electra", r"(^|\.)embeddings\.position_ids$", is_position_ids)
register_computed_buffer("electra", r"(^|\.)embeddings\.token_type_ids$", is_zeros)
register_repeated_layers("electra", "num_hidden_layers")
