"""The BERT-family encoders every adapter implements, as data: which model types, under which class-name stems,
with which heads. Each adapter's auto classes and ``architectures()`` are built from it."""

from __future__ import annotations

from typing import Any

__all__ = ["ENCODER_STEMS", "ENCODER_HEADS", "EXTRA_HEADS", "encoder_classes", "classifier_dropout_rate"]

#: model_type -> the stem of its class names (``Roberta`` -> ``RobertaForMaskedLM``)
ENCODER_STEMS = {"bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
                 "distilbert": "DistilBert", "albert": "Albert", "electra": "Electra"}
#: the class-name suffixes of the base model and of each head every encoder has
ENCODER_HEADS = ("Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")
#: model_type -> heads only that architecture has (ELECTRA's replaced-token discriminator)
EXTRA_HEADS = {"electra": ("ForPreTraining",)}


def encoder_classes(by_name: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """model_type -> head suffix -> class, from an adapter's classes keyed by transformers' PyTorch names."""
    return {model_type: {head: by_name[stem + head] for head in ENCODER_HEADS + EXTRA_HEADS.get(model_type, ())}
            for model_type, stem in ENCODER_STEMS.items()}


def classifier_dropout_rate(config: Any) -> float:
    """The dropout before a classifier, as transformers reads it: ``classifier_dropout`` (ALBERT:
    ``classifier_dropout_prob``) when set, else the hidden layers' dropout."""
    for name in ("classifier_dropout", "classifier_dropout_prob"):
        rate = getattr(config, name, None)
        if rate is not None:
            return float(rate)
    return float(config.hidden_dropout_prob)
