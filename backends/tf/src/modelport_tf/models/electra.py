"""ELECTRA on Keras 3: BERT's encoder behind ``embedding_size``-wide embeddings (projected by ``embeddings_project``),
no pooler, and its heads (discriminator, generator, task heads) under transformers 4.x's TF names."""

from __future__ import annotations

from typing import Any

from modelport import ElectraConfig
from modelport.models.losses import replaced_token_detection_loss

from .._keras import keras, tf
from ..layers import activation, dense, layer_norm
from ..losses import TF_LOSS_OPS
from ..modeling import ModelOutput
from .bert import (
    TFBertEmbeddings,
    TFBertForMaskedLM,
    TFBertForQuestionAnswering,
    TFBertForTokenClassification,
    TFBertHead,
    TFBertLMPredictionHead,
    TFBertMainLayer,
    TFBertModel,
    TFBertPreTrainedModel,
)
from .roberta import TFRobertaClassificationHead, TFRobertaForSequenceClassification

__all__ = ["ELECTRA_CLASSES"]


class TFElectraEmbeddings(TFBertEmbeddings):
    width_attribute = "embedding_size"


class TFElectraMainLayer(TFBertMainLayer):
    """BERT's encoder behind the projected embeddings, with no pooler whatever the caller asks."""

    embeddings_class = TFElectraEmbeddings

    def __init__(self, config: ElectraConfig, add_pooling_layer: bool = False, **kwargs: Any) -> None:
        super().__init__(config, add_pooling_layer=False, **kwargs)

    def _add_after_embeddings(self, config: ElectraConfig) -> None:
        self.embeddings_project = None
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = dense(config.hidden_size, config.initializer_range, "embeddings_project",
                                            config.embedding_size)

    def embed(self, input_ids: Any, token_type_ids: Any, position_ids: Any, training: bool = False) -> Any:
        hidden = super().embed(input_ids, token_type_ids, position_ids, training=training)
        return hidden if self.embeddings_project is None else self.embeddings_project(hidden)


class TFElectraPreTrainedModel(TFBertPreTrainedModel):
    config_class = ElectraConfig
    base_model_prefix = "electra"
    main_layer_class = TFElectraMainLayer


class TFElectraModel(TFElectraPreTrainedModel, TFBertModel):
    """The bare ELECTRA encoder: ``last_hidden_state`` (no pooler)."""


class TFElectraDiscriminatorPredictions(keras.layers.Layer):
    """dense, the config's activation, then one logit a token: was it replaced?"""

    def __init__(self, config: ElectraConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.hidden_size, config.initializer_range, "dense", config.hidden_size)
        self.act = activation(config.hidden_act)
        self.dense_prediction = dense(1, config.initializer_range, "dense_prediction", config.hidden_size)

    def call(self, hidden: Any, training: bool = False) -> Any:
        return tf.squeeze(self.dense_prediction(self.act(self.dense(hidden))), -1)


class TFElectraForPreTraining(TFElectraPreTrainedModel, TFBertHead):
    """The discriminator: a replaced-token logit for every token; ``labels`` (1 = replaced) add the binary
    cross-entropy over the tokens the attention mask keeps."""

    head_name = "discriminator_predictions"
    head_dropout = False

    def _make_head(self, config: ElectraConfig) -> Any:
        return TFElectraDiscriminatorPredictions(config, name=self.head_name)

    def call(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False, labels: Any = None,
             training: bool = False) -> ModelOutput:
        x = self._unpack(input_ids, dict(attention_mask=attention_mask, token_type_ids=token_type_ids,
                                         position_ids=position_ids, head_mask=head_mask, labels=labels))
        mask = x.get("attention_mask")  # the loss counts the tokens it keeps
        out, logits, given = self._encode(x, {}, output_hidden_states, output_attentions, training)
        labels = given["labels"]
        loss = None if labels is None else replaced_token_detection_loss(logits, labels, mask, TF_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class TFElectraGeneratorPredictions(keras.layers.Layer):
    """dense down to the embedding width, GELU, layer norm."""

    def __init__(self, config: ElectraConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.embedding_size, config.initializer_range, "dense", config.hidden_size)
        self.act = activation("gelu")
        self.LayerNorm = layer_norm(config.layer_norm_eps, "LayerNorm", config.embedding_size)

    def call(self, hidden: Any, training: bool = False) -> Any:
        return self.LayerNorm(self.act(self.dense(hidden)))


class TFElectraMaskedLMHead(TFBertLMPredictionHead):
    """``generator_lm_head``: the word embeddings (transposed) plus ``bias``, with no transform of its own."""

    def _add_transform(self, config: ElectraConfig) -> None:
        pass

    def _transform(self, hidden: Any) -> Any:
        return hidden


class TFElectraForMaskedLM(TFElectraPreTrainedModel, TFBertForMaskedLM):
    """The generator: masked-token predictions through ``generator_lm_head``, tied to the word embeddings."""

    def add_lm_head(self, config: ElectraConfig) -> None:
        self.generator_predictions = TFElectraGeneratorPredictions(config, name="generator_predictions")
        self.generator_lm_head = TFElectraMaskedLMHead(config, name="generator_lm_head")

    def lm_logits(self, hidden: Any, training: bool = False) -> Any:
        return self.generator_lm_head(self.generator_predictions(hidden, training=training),
                                      table=self.base_model.get_input_embeddings(), training=training)

    def get_lm_head(self) -> TFElectraMaskedLMHead:
        return self.generator_lm_head


class TFElectraClassificationHead(TFRobertaClassificationHead):
    """On the first token: dropout, dense with GELU (where RoBERTa has tanh), dropout, ``out_proj``."""

    dense_activation = staticmethod(activation("gelu"))


class TFElectraForSequenceClassification(TFElectraPreTrainedModel, TFRobertaForSequenceClassification):
    """The classification head on the first token; the loss's problem type follows the config or labels."""

    head_class = TFElectraClassificationHead


class TFElectraForTokenClassification(TFElectraPreTrainedModel, TFBertForTokenClassification):
    """A classifier on every token (tagging); labels of -100 add no loss."""


class TFElectraForQuestionAnswering(TFElectraPreTrainedModel, TFBertForQuestionAnswering):
    """Extractive question answering: each token's score as the answer's start and as its end."""


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ELECTRA_CLASSES = {cls.__name__.removeprefix("TF"): cls for cls in (
    TFElectraModel, TFElectraForPreTraining, TFElectraForMaskedLM, TFElectraForSequenceClassification,
    TFElectraForTokenClassification, TFElectraForQuestionAnswering)}
__all__ += [cls.__name__ for cls in ELECTRA_CLASSES.values()]
