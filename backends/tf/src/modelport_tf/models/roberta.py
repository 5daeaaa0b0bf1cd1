"""RoBERTa, XLM-RoBERTa and CamemBERT on Keras 3: BERT's encoder and heads (:mod:`.bert`) with RoBERTa's position
ids, masked-LM head and sequence-classification head, under transformers 4.x's TF names (``roberta/...``,
``lm_head/...``, ``classifier/dense``, ``classifier/out_proj``)."""

from __future__ import annotations

from typing import Any

from modelport import CamembertConfig, RobertaConfig, XLMRobertaConfig
from modelport.models.losses import sequence_classification_loss

from .._keras import keras, tf
from ..layers import activation, dense, layer_norm
from .bert import (
    TFBertClassifier,
    TFBertEmbeddings,
    TFBertForMaskedLM,
    TFBertForQuestionAnswering,
    TFBertForTokenClassification,
    TFBertLMPredictionHead,
    TFBertMainLayer,
    TFBertModel,
    TFBertPreTrainedModel,
    classifier_dropout,
)

__all__ = ["ROBERTA_CLASSES"]


class TFRobertaEmbeddings(TFBertEmbeddings):
    """Positions count from past the padding index; padding tokens sit at the padding index."""

    def __init__(self, config: RobertaConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.padding_idx = config.pad_token_id

    def positions(self, input_ids: Any) -> Any:
        real = tf.cast(tf.math.not_equal(input_ids, self.padding_idx), input_ids.dtype)
        return tf.math.cumsum(real, axis=1) * real + self.padding_idx


class TFRobertaMainLayer(TFBertMainLayer):
    embeddings_class = TFRobertaEmbeddings


class TFRobertaPreTrainedModel(TFBertPreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"
    main_layer_class = TFRobertaMainLayer


class TFRobertaModel(TFRobertaPreTrainedModel, TFBertModel):
    """The bare RoBERTa encoder: ``last_hidden_state`` and ``pooler_output``."""


class TFRobertaLMHead(TFBertLMPredictionHead):
    """dense, GELU, layer norm (directly under ``lm_head``), then the tied decoder plus ``bias``."""

    def _add_transform(self, config: RobertaConfig) -> None:
        self.dense = dense(config.hidden_size, config.initializer_range, "dense", config.hidden_size)
        self.act = activation("gelu")
        self.layer_norm = layer_norm(config.layer_norm_eps, "layer_norm", config.hidden_size)

    def _transform(self, hidden: Any) -> Any:
        return self.layer_norm(self.act(self.dense(hidden)))


class TFRobertaForMaskedLM(TFRobertaPreTrainedModel, TFBertForMaskedLM):
    """RoBERTa with its masked-language-model head; the decoder is the word embeddings."""

    lm_head_name = "lm_head"

    def make_lm_head(self, config: RobertaConfig) -> Any:
        return TFRobertaLMHead(config, name="lm_head")

    def get_lm_head(self) -> TFRobertaLMHead:
        return self.lm_head


class TFRobertaClassificationHead(keras.layers.Layer):
    """On the first token (``<s>``): dropout, dense with tanh, dropout, ``out_proj``."""

    dense_activation: Any = "tanh"  # ELECTRA's head has GELU

    def __init__(self, config: RobertaConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.hidden_size, config.initializer_range, "dense", config.hidden_size,
                           activation=self.dense_activation)
        self.dropout = classifier_dropout(config)
        self.out_proj = dense(config.num_labels, config.initializer_range, "out_proj", config.hidden_size)

    def call(self, hidden: Any, training: bool = False) -> Any:
        x = self.dense(self.dropout(hidden[:, 0, :], training=training))
        return self.out_proj(self.dropout(x, training=training))


class TFRobertaForSequenceClassification(TFRobertaPreTrainedModel, TFBertClassifier):
    """The classification head on the first token (no pooler); the loss's problem type follows the config or labels."""

    head_dropout = False  # the head has its own
    loss_rule = staticmethod(sequence_classification_loss)
    head_class: type[keras.layers.Layer] = TFRobertaClassificationHead  # ELECTRA's has GELU for tanh

    def _make_head(self, config: RobertaConfig) -> Any:
        return self.head_class(config, name="classifier")


class TFRobertaForTokenClassification(TFRobertaPreTrainedModel, TFBertForTokenClassification):
    """A classifier on every token (tagging); labels of -100 add no loss."""


class TFRobertaForQuestionAnswering(TFRobertaPreTrainedModel, TFBertForQuestionAnswering):
    """Extractive question answering: each token's score as the answer's start and as its end."""


# XLM-RoBERTa and CamemBERT are RoBERTa under other names and config classes
class TFXLMRobertaPreTrainedModel(TFRobertaPreTrainedModel):
    config_class = XLMRobertaConfig


class TFXLMRobertaModel(TFXLMRobertaPreTrainedModel, TFRobertaModel):
    pass


class TFXLMRobertaForMaskedLM(TFXLMRobertaPreTrainedModel, TFRobertaForMaskedLM):
    pass


class TFXLMRobertaForSequenceClassification(TFXLMRobertaPreTrainedModel, TFRobertaForSequenceClassification):
    pass


class TFXLMRobertaForTokenClassification(TFXLMRobertaPreTrainedModel, TFRobertaForTokenClassification):
    pass


class TFXLMRobertaForQuestionAnswering(TFXLMRobertaPreTrainedModel, TFRobertaForQuestionAnswering):
    pass


class TFCamembertPreTrainedModel(TFRobertaPreTrainedModel):
    config_class = CamembertConfig


class TFCamembertModel(TFCamembertPreTrainedModel, TFRobertaModel):
    pass


class TFCamembertForMaskedLM(TFCamembertPreTrainedModel, TFRobertaForMaskedLM):
    pass


class TFCamembertForSequenceClassification(TFCamembertPreTrainedModel, TFRobertaForSequenceClassification):
    pass


class TFCamembertForTokenClassification(TFCamembertPreTrainedModel, TFRobertaForTokenClassification):
    pass


class TFCamembertForQuestionAnswering(TFCamembertPreTrainedModel, TFRobertaForQuestionAnswering):
    pass


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ROBERTA_CLASSES = {cls.__name__.removeprefix("TF"): cls for cls in (
    TFRobertaModel, TFRobertaForMaskedLM, TFRobertaForSequenceClassification, TFRobertaForTokenClassification,
    TFRobertaForQuestionAnswering, TFXLMRobertaModel, TFXLMRobertaForMaskedLM, TFXLMRobertaForSequenceClassification,
    TFXLMRobertaForTokenClassification, TFXLMRobertaForQuestionAnswering, TFCamembertModel, TFCamembertForMaskedLM,
    TFCamembertForSequenceClassification, TFCamembertForTokenClassification, TFCamembertForQuestionAnswering)}
