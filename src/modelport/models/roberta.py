"""RoBERTa and the models that reuse it unchanged (XLM-RoBERTa, CamemBERT): configurations with transformers 4.x's
names and defaults, and the facts shared by every adapter (base-model prefix, tied weights, computed buffers).

They are BERT's encoder with three differences the adapters implement: position ids count from past the padding
index (``padding_idx + 1`` for the first real token), the masked-LM head is ``lm_head`` (dense, GELU, layer norm,
then the tied decoder), and the sequence classifier is a two-layer head on the first token instead of the pooler.
"""

from __future__ import annotations

from typing import Any

from ..modeling.depth import register_repeated_layers
from ..modeling.ties import TiedWeights, is_position_ids, is_zeros, register_base_model, register_computed_buffer, register_ties
from .bert import BertConfig

__all__ = ["RobertaConfig", "XLMRobertaConfig", "CamembertConfig", "ROBERTA_FAMILY"]


class RobertaConfig(BertConfig):
    """Configuration of RoBERTa models (defaults: roberta-base's vocabulary; padding 1, start 0, end 2).

    Example:
        >>> RobertaConfig().pad_token_id
        1
    """

    model_type = "roberta"

    def __init__(self, vocab_size: int = 50265, pad_token_id: int = 1, bos_token_id: int = 0, eos_token_id: int = 2,
                 **kwargs: Any) -> None:
        super().__init__(vocab_size=vocab_size, pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                         eos_token_id=eos_token_id, **kwargs)


class XLMRobertaConfig(RobertaConfig):
    """Configuration of XLM-RoBERTa models: RoBERTa's, with transformers' default vocabulary size (30522)."""

    model_type = "xlm-roberta"

    def __init__(self, vocab_size: int = 30522, **kwargs: Any) -> None:
        super().__init__(vocab_size=vocab_size, **kwargs)


class CamembertConfig(RobertaConfig):
    """Configuration of CamemBERT models: RoBERTa's, with transformers' default vocabulary size (30522)."""

    model_type = "camembert"

    def __init__(self, vocab_size: int = 30522, **kwargs: Any) -> None:
        super().__init__(vocab_size=vocab_size, **kwargs)


#: model_type -> (class-name stem, config class) of every model written as RoBERTa
ROBERTA_FAMILY = {"roberta": ("Roberta", RobertaConfig), "xlm-roberta": ("XLMRoberta", XLMRobertaConfig),
                  "camembert": ("Camembert", CamembertConfig)}

for _model_type, (_stem, _) in ROBERTA_FAMILY.items():
    register_base_model(f"{_stem}Model", "roberta")
    # the MLM decoder projects onto the word embeddings (unless the config unties them); its bias is the head's
    register_ties(f"{_stem}ForMaskedLM", TiedWeights(
        when_flag={"lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight"},
        always={"lm_head.decoder.bias": "lm_head.bias"},
    ))
    register_computed_buffer(_model_type, r"(^|\.)embeddings\.position_ids$", is_position_ids)
    register_computed_buffer(_model_type, r"(^|\.)embeddings\.token_type_ids$", is_zeros)
    register_repeated_layers(_model_type, "num_hidden_layers")
