"""The BERT-family encoders every adapter implements, as data: which model types, under which class-name stems,
with which heads. Each adapter's auto classes and ``architectures()`` are built from it."""

from __future__ import annotations

from typing import Any

__all__ = ["ENCODER_STEMS", "ENCODER_HEADS", "encoder_classes"]

#: model_type -> the stem of its class names (``Roberta`` -> ``RobertaForMaskedLM``)
ENCODER_STEMS = {"bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
                 "distilbert": "DistilBert"}
#: the class-name suffixes of the base model and of each head
ENCODER_HEADS = ("Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")


def encoder_classes(by_name: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """model_type -> head suffix -> class, from an adapter's classes keyed by transformers' PyTorch names."""
    return {model_type: {head: by_name[stem + head] for head in ENCODER_HEADS} for model_type, stem in ENCODER_STEMS.items()}
