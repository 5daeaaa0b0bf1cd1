"""ALBERT on Keras 3: BERT's embeddings at ``embedding_size``, projected to the hidden size, and layer groups whose
weights every step of the same group shares; transformers 4.x's TF names (``albert/encoder/albert_layer_groups_._<g>/
albert_layers_._<i>/...``, ``predictions/...``) and outputs."""

from __future__ import annotations

from typing import Any

from modelport import AlbertConfig
from modelport.models.albert import albert_group_of_step

from .._keras import keras
from ..layers import WeightEmbedding, activation, dense, layer_norm, replace_variable, with_input_width
from .bert import (
    TFBertEmbeddings,
    TFBertForMaskedLM,
    TFBertForQuestionAnswering,
    TFBertForSequenceClassification,
    TFBertForTokenClassification,
    TFBertMainLayer,
    TFBertModel,
    TFBertPreTrainedModel,
    TFBertSelfAttention,
)

__all__ = ["ALBERT_CLASSES"]


class TFAlbertEmbeddings(TFBertEmbeddings):
    width_attribute = "embedding_size"


class TFAlbertAttention(TFBertSelfAttention):
    """Self-attention, its output projection (``dense``) and the residual layer norm in one layer."""

    def __init__(self, config: AlbertConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.dense = dense(config.hidden_size, config.initializer_range, "dense", config.hidden_size)
        self.LayerNorm = layer_norm(config.layer_norm_eps, "LayerNorm", config.hidden_size)
        self.output_dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False) -> Any:
        context, probs = super().call(hidden, attention_bias=attention_bias, head_mask=head_mask, training=training)
        return self.LayerNorm(hidden + self.output_dropout(self.dense(context), training=training)), probs


class TFAlbertLayer(keras.layers.Layer):
    def __init__(self, config: AlbertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention = TFAlbertAttention(config, name="attention")
        self.ffn = dense(config.intermediate_size, config.initializer_range, "ffn", config.hidden_size)
        self.act = activation(config.hidden_act)
        self.ffn_output = dense(config.hidden_size, config.initializer_range, "ffn_output", config.intermediate_size)
        self.full_layer_layer_norm = layer_norm(config.layer_norm_eps, "full_layer_layer_norm", config.hidden_size)

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False) -> Any:
        attended, probs = self.attention(hidden, attention_bias=attention_bias, head_mask=head_mask, training=training)
        out = self.ffn_output(self.act(self.ffn(attended)))  # no dropout here, as in transformers' PyTorch ALBERT
        return self.full_layer_layer_norm(out + attended), probs


class TFAlbertLayerGroup(keras.layers.Layer):
    def __init__(self, config: AlbertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.albert_layers = [TFAlbertLayer(config, name=f"albert_layers_._{i}") for i in range(config.inner_group_num)]

    def call(self, hidden: Any, attention_bias: Any, head_masks: Any, training: bool = False) -> Any:
        attentions = []
        for layer, head_mask in zip(self.albert_layers, head_masks):
            hidden, probs = layer(hidden, attention_bias=attention_bias, head_mask=head_mask, training=training)
            attentions.append(probs)
        return hidden, attentions


class TFAlbertTransformer(keras.layers.Layer):
    """The projection to the hidden size, then ``num_hidden_layers`` steps, each running its group's layers."""

    def __init__(self, config: AlbertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.embedding_hidden_mapping_in = dense(config.hidden_size, config.initializer_range, "embedding_hidden_mapping_in",
                                                 config.embedding_size)
        self.albert_layer_groups = [TFAlbertLayerGroup(config, name=f"albert_layer_groups_._{g}")
                                    for g in range(config.num_hidden_groups)]

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False) -> Any:
        hidden = self.embedding_hidden_mapping_in(hidden)
        states, attentions = [hidden], []
        per_group = self.config.num_hidden_layers // self.config.num_hidden_groups
        for step in range(self.config.num_hidden_layers):
            g = albert_group_of_step(self.config, step)
            # transformers hands each group the head masks of its own slice of steps, one per inner layer
            head_masks = [head_mask[g * per_group + i] for i in range(self.config.inner_group_num)]
            hidden, probs = self.albert_layer_groups[g](hidden, attention_bias=attention_bias, head_masks=head_masks,
                                                        training=training)
            states.append(hidden)
            attentions.extend(probs)
        return hidden, tuple(states), tuple(attentions)


class TFAlbertPooler(keras.layers.Dense):
    """``pooler`` is a bare dense layer with tanh in ALBERT, on the first token."""

    def __init__(self, config: AlbertConfig, **kwargs: Any) -> None:
        super().__init__(config.hidden_size, activation="tanh", kernel_initializer=keras.initializers.TruncatedNormal(
            stddev=config.initializer_range), **kwargs)
        with_input_width(self, config.hidden_size)

    def call(self, hidden: Any) -> Any:
        return super().call(hidden[:, 0])


class TFAlbertMainLayer(TFBertMainLayer):
    embeddings_class = TFAlbertEmbeddings
    encoder_class = TFAlbertTransformer
    pooler_class = TFAlbertPooler


class TFAlbertPreTrainedModel(TFBertPreTrainedModel):
    config_class = AlbertConfig
    base_model_prefix = "albert"
    main_layer_class = TFAlbertMainLayer


class TFAlbertModel(TFAlbertPreTrainedModel, TFBertModel):
    """The bare ALBERT encoder: ``last_hidden_state`` and ``pooler_output``."""


class TFOutputBias(keras.layers.Layer):
    """A bias alone (ALBERT's ``predictions/decoder/bias``: the decoder's matrix is the word embeddings)."""

    builds_without_input_shape = True

    def __init__(self, size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = size

    def build(self, input_shape: Any = None) -> None:
        self.bias = self.add_weight(name="bias", shape=(self.size,), initializer="zeros")
        super().build(input_shape)


class TFAlbertMLMHead(keras.layers.Layer):
    """dense to the embedding width, the config's activation, layer norm, then the word embeddings (transposed) plus
    ``decoder/bias``. ``bias`` is kept beside it, unused, as transformers' TF ALBERT does (PyTorch has one bias under
    both names)."""

    builds_without_input_shape = True

    def __init__(self, config: AlbertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = config.vocab_size
        self.dense = dense(config.embedding_size, config.initializer_range, "dense", config.hidden_size)
        self.act = activation(config.hidden_act)
        self.LayerNorm = layer_norm(config.layer_norm_eps, "LayerNorm", config.embedding_size)
        self.decoder = TFOutputBias(config.vocab_size, name="decoder")

    def build(self, input_shape: Any = None) -> None:
        self.bias = self.add_weight(name="bias", shape=(self.vocab_size,), initializer="zeros")
        super().build(input_shape)

    def call(self, hidden: Any, table: WeightEmbedding) -> Any:
        return table.attend(self.LayerNorm(self.act(self.dense(hidden)))) + self.decoder.bias

    def get_bias(self) -> dict[str, Any]:
        return {"bias": self.bias, "decoder_bias": self.decoder.bias}

    def set_bias(self, value: dict[str, Any]) -> None:
        replace_variable(self, "bias", value["bias"])
        replace_variable(self.decoder, "bias", value["decoder_bias"])
        self.vocab_size = self.decoder.size = int(self.bias.shape[0])


class TFAlbertForMaskedLM(TFAlbertPreTrainedModel, TFBertForMaskedLM):
    """ALBERT with its masked-language-model head; the decoder is the word embeddings."""

    lm_head_name = "predictions"

    def make_lm_head(self, config: AlbertConfig) -> Any:
        return TFAlbertMLMHead(config, name="predictions")

    def get_output_embeddings(self) -> Any:
        return self.get_input_embeddings()

    def get_lm_head(self) -> TFAlbertMLMHead:
        return self.predictions

    def sync_tied_copies(self) -> None:
        # training moves only the decoder bias the logits use; PyTorch reads the same value as predictions.bias
        if self.built:
            self.predictions.bias.assign(self.predictions.decoder.bias)


class TFAlbertForSequenceClassification(TFAlbertPreTrainedModel, TFBertForSequenceClassification):
    """A classifier (or regressor) on the pooled first token; the loss's problem type follows the config or labels."""


class TFAlbertForTokenClassification(TFAlbertPreTrainedModel, TFBertForTokenClassification):
    """A classifier on every token (tagging); labels of -100 add no loss."""


class TFAlbertForQuestionAnswering(TFAlbertPreTrainedModel, TFBertForQuestionAnswering):
    """Extractive question answering: each token's score as the answer's start and as its end."""


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ALBERT_CLASSES = {cls.__name__.removeprefix("TF"): cls for cls in (
    TFAlbertModel, TFAlbertForMaskedLM, TFAlbertForSequenceClassification, TFAlbertForTokenClassification,
    TFAlbertForQuestionAnswering)}
__all__ += [cls.__name__ for cls in ALBERT_CLASSES.values()]
