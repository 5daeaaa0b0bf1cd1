"""BERT on Keras 3 with transformers 4.x's TF variable names and outputs."""

from __future__ import annotations

import math
from typing import Any

from modelport import BertConfig
from modelport.models.encoders import classifier_dropout_rate
from modelport.models.losses import masked_lm_loss, question_answering_loss, sequence_classification_loss, token_classification_loss

from .._keras import keras, tf
from ..layers import (
    OutputProjection,
    WeightEmbedding,
    activation,
    dense,
    expand_head_mask,
    layer_norm,
    replace_variable,
    shape_list,
)
from ..losses import TF_LOSS_OPS
from ..modeling import ModelOutput, TFPreTrainedModel

__all__ = ["BERT_CLASSES", "TFBertModel", "TFBertForMaskedLM", "TFBertForSequenceClassification", "TFBertForTokenClassification",
           "TFBertForQuestionAnswering", "TFBertMainLayer", "TFBertPreTrainedModel"]


def stable_softmax(logits: Any) -> Any:
    return tf.nn.softmax(logits + 1e-9, axis=-1)  # transformers' TF models add 1e-9 (an XLA workaround): kept for equal outputs


class TFBertEmbeddings(keras.layers.Layer):
    width_attribute = "hidden_size"  # the config attribute giving the embeddings' width (ALBERT, ELECTRA: embedding_size)

    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c, width = config, getattr(config, self.width_attribute)
        self.word_embeddings = WeightEmbedding(c.vocab_size, width, c.initializer_range, "weight", name="word_embeddings")
        self.token_type_embeddings = WeightEmbedding(c.type_vocab_size, width, c.initializer_range, name="token_type_embeddings")
        self.position_embeddings = WeightEmbedding(c.max_position_embeddings, width, c.initializer_range, name="position_embeddings")
        self.LayerNorm = layer_norm(c.layer_norm_eps, "LayerNorm", width)
        self.dropout = keras.layers.Dropout(c.hidden_dropout_prob)

    def positions(self, input_ids: Any) -> Any:
        """``0..length-1`` for every row."""
        return tf.range(shape_list(input_ids)[1])[None, :]

    def call(self, input_ids: Any, token_type_ids: Any, position_ids: Any, training: bool = False) -> Any:
        x = self.word_embeddings(input_ids) + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x), training=training)


class TFBertSelfAttention(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_heads * self.head_size
        self.query = dense(self.all_head_size, config.initializer_range, "query", config.hidden_size)
        self.key = dense(self.all_head_size, config.initializer_range, "key", config.hidden_size)
        self.value = dense(self.all_head_size, config.initializer_range, "value", config.hidden_size)
        self.dropout = keras.layers.Dropout(config.attention_probs_dropout_prob)

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False) -> Any:
        batch = shape_list(hidden)[0]

        def heads(x: Any) -> Any:
            return tf.transpose(tf.reshape(x, (batch, -1, self.num_heads, self.head_size)), [0, 2, 1, 3])

        q, k, v = heads(self.query(hidden)), heads(self.key(hidden)), heads(self.value(hidden))
        scores = tf.matmul(q, k, transpose_b=True) / tf.cast(math.sqrt(self.head_size), hidden.dtype)
        if attention_bias is not None:
            scores = scores + attention_bias
        probs = self.dropout(stable_softmax(scores), training=training)
        if head_mask is not None:
            probs = probs * head_mask
        context = tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3])
        return tf.reshape(context, (batch, -1, self.all_head_size)), probs


class TFBertSelfOutput(keras.layers.Layer):
    """Project back to the hidden size, add the residual, normalise: after attention and after the MLP."""

    def __init__(self, config: BertConfig, input_width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.hidden_size, config.initializer_range, "dense", input_width)
        self.LayerNorm = layer_norm(config.layer_norm_eps, "LayerNorm", config.hidden_size)
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def call(self, hidden: Any, residual: Any = None, training: bool = False) -> Any:
        return self.LayerNorm(self.dropout(self.dense(hidden), training=training) + residual)


class TFBertAttention(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.self_attention = TFBertSelfAttention(config, name="self")
        self.dense_output = TFBertSelfOutput(config, config.hidden_size, name="output")

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False) -> Any:
        context, probs = self.self_attention(hidden, attention_bias=attention_bias, head_mask=head_mask, training=training)
        return self.dense_output(context, residual=hidden, training=training), probs


class TFBertIntermediate(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.intermediate_size, config.initializer_range, "dense", config.hidden_size)
        self.act = activation(config.hidden_act)

    def call(self, hidden: Any) -> Any:
        return self.act(self.dense(hidden))


class TFBertLayer(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention = TFBertAttention(config, name="attention")
        self.intermediate = TFBertIntermediate(config, name="intermediate")
        self.bert_output = TFBertSelfOutput(config, config.intermediate_size, name="output")

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False) -> Any:
        attended, probs = self.attention(hidden, attention_bias=attention_bias, head_mask=head_mask, training=training)
        return self.bert_output(self.intermediate(attended), residual=attended, training=training), probs


class TFBertEncoder(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = [TFBertLayer(config, name=f"layer_._{i}") for i in range(config.num_hidden_layers)]

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False) -> Any:
        """The last hidden state, every layer's input and output, and every layer's attention probabilities."""
        states, attentions = [hidden], []
        for i, layer in enumerate(self.layer):
            hidden, probs = layer(hidden, attention_bias=attention_bias, head_mask=head_mask[i], training=training)
            states.append(hidden)
            attentions.append(probs)
        return hidden, tuple(states), tuple(attentions)


class TFBertPooler(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.hidden_size, config.initializer_range, "dense", config.hidden_size, activation="tanh")

    def call(self, hidden: Any) -> Any:
        return self.dense(hidden[:, 0])


class TFBertMainLayer(keras.layers.Layer):
    """The BERT encoder (``bert/...``), shared by the bare model and the heads."""

    embeddings_class: type[keras.layers.Layer] = TFBertEmbeddings
    encoder_class: type[keras.layers.Layer] = TFBertEncoder  # (hidden, attention_bias, head_mask) -> (last, states, attentions)
    pooler_class: type[keras.layers.Layer] = TFBertPooler

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = self.embeddings_class(config, name="embeddings")
        self._add_after_embeddings(config)
        self.encoder = self.encoder_class(config, name="encoder")
        self.pooler = self.pooler_class(config, name="pooler") if add_pooling_layer else None

    def _add_after_embeddings(self, config: BertConfig) -> None:
        """Layers between the embeddings and the encoder (ELECTRA's projection); BERT has none."""

    def embed(self, input_ids: Any, token_type_ids: Any, position_ids: Any, training: bool = False) -> Any:
        """The encoder's input."""
        return self.embeddings(input_ids, token_type_ids=token_type_ids, position_ids=position_ids, training=training)

    def get_input_embeddings(self) -> WeightEmbedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: Any) -> None:
        table = self.embeddings.word_embeddings
        replace_variable(table, "weight", value)
        table.vocab_size = int(table.weight.shape[0])

    def call(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False,
             training: bool = False) -> ModelOutput:
        batch, length = shape_list(input_ids)[:2]
        if attention_mask is None:
            attention_mask = tf.ones((batch, length), tf.int32)
        if token_type_ids is None:
            token_type_ids = tf.zeros((batch, length), tf.int32)
        if position_ids is None:
            position_ids = self.embeddings.positions(input_ids)
        hidden = self.embed(input_ids, token_type_ids=token_type_ids, position_ids=position_ids, training=training)
        bias = tf.cast(tf.reshape(attention_mask, (batch, 1, 1, length)), hidden.dtype)
        bias = (1.0 - bias) * -10000.0  # transformers' TF BERT value, kept so masked outputs agree
        head_mask = expand_head_mask(head_mask, self.config.num_hidden_layers)
        hidden, states, attentions = self.encoder(hidden, attention_bias=bias, head_mask=head_mask, training=training)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return ModelOutput(last_hidden_state=hidden, pooler_output=pooled, hidden_states=states if output_hidden_states else None,
                           attentions=attentions if output_attentions else None)


class TFBertPreTrainedModel(TFPreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    main_layer_class = TFBertMainLayer  # built under base_model_prefix (RoBERTa: TFRobertaMainLayer under "roberta")

    def _add_main_layer(self, config: BertConfig, add_pooling_layer: bool) -> None:
        setattr(self, self.base_model_prefix, self.main_layer_class(config, add_pooling_layer=add_pooling_layer,
                                                                     name=self.base_model_prefix))

    @property
    def input_signature(self) -> dict[str, Any]:
        return {name: tf.TensorSpec((None, None), tf.int32, name=name) for name in ("input_ids", "attention_mask", "token_type_ids")}


class TFBertModel(TFBertPreTrainedModel):
    is_base_model = True

    def __init__(self, config: BertConfig, *inputs: Any, add_pooling_layer: bool = True, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self._add_main_layer(config, add_pooling_layer)

    def call(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False,
             training: bool = False) -> ModelOutput:
        x = self._unpack(input_ids, dict(attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
                                         head_mask=head_mask))
        return self.base_model(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions, training=training)


class TFBertLMPredictionHead(keras.layers.Layer):
    """Transform, then project onto the (tied) word embeddings plus an output ``bias``."""

    builds_without_input_shape = True  # the bias is sized by the vocabulary

    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = config.vocab_size
        self._add_transform(config)
        # transformers' TF BERT always ties the decoder; an untied checkpoint needs one of its own
        self.decoder = None if config.tie_word_embeddings else OutputProjection(
            config.vocab_size, config.hidden_size, config.initializer_range, name="decoder")

    def build(self, input_shape: Any = None) -> None:
        self.bias = self.add_weight(name="bias", shape=(self.vocab_size,), initializer="zeros")
        super().build(input_shape)

    def _add_transform(self, config: BertConfig) -> None:
        self.transform = TFBertPredictionHeadTransform(config, name="transform")

    def _transform(self, hidden: Any) -> Any:
        return self.transform(hidden)

    def call(self, hidden: Any, table: WeightEmbedding) -> Any:
        hidden = self._transform(hidden)
        return (table.attend(hidden) if self.decoder is None else self.decoder(hidden)) + self.bias

    def get_bias(self) -> dict[str, Any]:
        return {"bias": self.bias}

    def set_bias(self, value: dict[str, Any]) -> None:
        bias = value["bias"]
        if tuple(bias.shape) == tuple(self.bias.shape):
            self.bias.assign(bias)
        else:
            replace_variable(self, "bias", bias)
        self.vocab_size = int(self.bias.shape[0])


class TFBertPredictionHeadTransform(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.hidden_size, config.initializer_range, "dense", config.hidden_size)
        self.act = activation(config.hidden_act)
        self.LayerNorm = layer_norm(config.layer_norm_eps, "LayerNorm", config.hidden_size)

    def call(self, hidden: Any) -> Any:
        return self.LayerNorm(self.act(self.dense(hidden)))


class TFBertMLMHead(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.predictions = TFBertLMPredictionHead(config, name="predictions")

    def call(self, hidden: Any, table: WeightEmbedding) -> Any:
        return self.predictions(hidden, table=table)


class TFBertForMaskedLM(TFBertPreTrainedModel):
    def __init__(self, config: BertConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self._add_main_layer(config, add_pooling_layer=False)
        self.add_lm_head(config)

    lm_head_name = "mlm"  # where the head lives (RoBERTa: lm_head)

    def add_lm_head(self, config: BertConfig) -> None:
        setattr(self, self.lm_head_name, self.make_lm_head(config))

    def make_lm_head(self, config: BertConfig) -> Any:
        return TFBertMLMHead(config, name="mlm___cls")

    def lm_logits(self, hidden: Any, training: bool = False) -> Any:
        return getattr(self, self.lm_head_name)(hidden, table=self.base_model.get_input_embeddings(), training=training)

    def get_output_embeddings(self) -> Any:
        decoder = self.get_lm_head().decoder
        return self.get_input_embeddings() if decoder is None else decoder

    def get_lm_head(self) -> TFBertLMPredictionHead:
        return self.mlm.predictions

    def call(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False, labels: Any = None,
             training: bool = False) -> ModelOutput:
        x = self._unpack(input_ids, dict(attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
                                         head_mask=head_mask, labels=labels))
        labels = x.pop("labels", None)
        out = self.base_model(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions, training=training)
        logits = self.lm_logits(out["last_hidden_state"], training=training)
        loss = None if labels is None else masked_lm_loss(self.config, logits, labels, TF_LOSS_OPS)
        # last_hidden_state is modelport's addition to transformers' TFMaskedLMOutput, after its fields
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions,
                           last_hidden_state=out["last_hidden_state"])


def classifier_dropout(config: BertConfig) -> Any:
    """The dropout layer before a classifier, at the rate transformers reads from the config."""
    return keras.layers.Dropout(classifier_dropout_rate(config))


class TFBertHead(TFBertPreTrainedModel):
    """The encoder under ``bert`` and one dense layer on its output; subclasses say which output and which loss."""

    pooled = False  # the classifier reads the pooler's output (the first token) instead of every token
    head_name = "classifier"
    head_dropout = True  # dropout before the dense layer (question answering has none)
    label_names: tuple[str, ...] = ("labels",)

    def __init__(self, config: BertConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.num_labels = config.num_labels
        self._add_main_layer(config, add_pooling_layer=self.pooled)
        self.dropout = classifier_dropout(config) if self.head_dropout else None
        setattr(self, self.head_name, self._make_head(config))

    def _make_head(self, config: BertConfig) -> Any:
        return dense(config.num_labels, config.initializer_range, self.head_name, config.hidden_size)

    def _encode(self, input_ids: Any, values: dict[str, Any], output_hidden_states: bool, output_attentions: bool,
                training: bool) -> tuple[Any, Any, dict[str, Any]]:
        """The encoder's output, the head's logits, and the labels given (inline in a dict input, as fit() passes them)."""
        x = self._unpack(input_ids, values)
        labels = {name: x.pop(name, None) for name in self.label_names}
        out = self.base_model(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions, training=training)
        features = out["pooler_output"] if self.pooled else out["last_hidden_state"]
        if self.dropout is not None:
            features = self.dropout(features, training=training)
        return out, getattr(self, self.head_name)(features, training=training), labels


class TFBertClassifier(TFBertHead):
    """A classifier on the pooled first token (``pooled``) or on every token, with ``loss_rule``'s loss when labels
    are given. The base of the sequence and token classifiers."""

    loss_rule = staticmethod(token_classification_loss)

    def call(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False, labels: Any = None,
             training: bool = False) -> ModelOutput:
        out, logits, given = self._encode(input_ids, dict(attention_mask=attention_mask, token_type_ids=token_type_ids,
                                                          position_ids=position_ids, head_mask=head_mask, labels=labels),
                                          output_hidden_states, output_attentions, training)
        labels = given["labels"]
        loss = None if labels is None else self.loss_rule(self.config, logits, labels, TF_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class TFBertForSequenceClassification(TFBertClassifier):
    """A classifier (or regressor) on the pooled first token; the loss's problem type follows the config or labels."""

    pooled = True
    loss_rule = staticmethod(sequence_classification_loss)


class TFBertForTokenClassification(TFBertClassifier):
    """A classifier on every token (tagging); labels of -100 add no loss."""


class TFBertForQuestionAnswering(TFBertHead):
    """Extractive question answering: each token's score as the answer's start and as its end."""

    head_name = "qa_outputs"
    head_dropout = False
    label_names = ("start_positions", "end_positions")

    def call(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False,
             start_positions: Any = None, end_positions: Any = None, training: bool = False) -> ModelOutput:
        out, logits, given = self._encode(input_ids, dict(attention_mask=attention_mask, token_type_ids=token_type_ids,
                                                          position_ids=position_ids, head_mask=head_mask,
                                                          start_positions=start_positions, end_positions=end_positions),
                                          output_hidden_states, output_attentions, training)
        start_logits, end_logits = (tf.squeeze(x, axis=-1) for x in tf.split(logits, 2, axis=-1))
        loss = None
        if given["start_positions"] is not None and given["end_positions"] is not None:
            loss = question_answering_loss(start_logits, end_logits, given["start_positions"], given["end_positions"],
                                           TF_LOSS_OPS)
        return ModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits, hidden_states=out.hidden_states,
                           attentions=out.attentions)


#: BERT's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
BERT_CLASSES = {cls.__name__.removeprefix("TF"): cls for cls in (
    TFBertModel, TFBertForMaskedLM, TFBertForSequenceClassification, TFBertForTokenClassification, TFBertForQuestionAnswering)}
