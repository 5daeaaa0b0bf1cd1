"""DistilBERT on Keras 3 with transformers 4.x's TF variable names (``distilbert/transformer/layer_._0/attention/q_lin``,
``vocab_projector/bias``...) and outputs."""

from __future__ import annotations

import math
from typing import Any

from modelport.models.distilbert import DistilBertConfig, sinusoidal_positions
from modelport.models.losses import masked_lm_loss, question_answering_loss, sequence_classification_loss, token_classification_loss

from .._keras import keras, tf
from ..layers import OutputProjection, WeightEmbedding, activation, dense, expand_head_mask, layer_norm, shape_list
from ..losses import TF_LOSS_OPS
from ..modeling import ModelOutput, TFPreTrainedModel
from .bert import stable_softmax

__all__ = ["DISTILBERT_CLASSES", "TFDistilBertModel", "TFDistilBertForMaskedLM", "TFDistilBertForSequenceClassification",
           "TFDistilBertForTokenClassification", "TFDistilBertForQuestionAnswering"]

NORM_EPS = 1e-12  # DistilBERT's layer norms, fixed in transformers' code rather than read from the config


class SinusoidalEmbedding(WeightEmbedding):
    """``sinusoidal_pos_embds=True``: the position table starts as the computed sinusoids and is not trained."""

    def build(self, input_shape: Any = None) -> None:
        table = sinusoidal_positions(self.vocab_size, self.hidden_size)
        self.weight = self.add_weight(name=self.weight_name, shape=table.shape, initializer=keras.initializers.Constant(table),
                                      trainable=False)
        keras.layers.Layer.build(self, input_shape)


class TFEmbeddings(keras.layers.Layer):
    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = config
        self.word_embeddings = WeightEmbedding(c.vocab_size, c.dim, c.initializer_range, "weight", name="word_embeddings")
        table = SinusoidalEmbedding if c.sinusoidal_pos_embds else WeightEmbedding
        self.position_embeddings = table(c.max_position_embeddings, c.dim, c.initializer_range, name="position_embeddings")
        self.LayerNorm = layer_norm(NORM_EPS, "LayerNorm", c.dim)
        self.dropout = keras.layers.Dropout(c.dropout)

    def call(self, input_ids: Any, training: bool = False) -> Any:
        positions = tf.range(shape_list(input_ids)[1])[None, :]
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x), training=training)


class TFMultiHeadSelfAttention(keras.layers.Layer):
    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = config
        self.n_heads, self.head_size = c.n_heads, c.dim // c.n_heads
        self.q_lin = dense(c.dim, c.initializer_range, "q_lin", c.dim)
        self.k_lin = dense(c.dim, c.initializer_range, "k_lin", c.dim)
        self.v_lin = dense(c.dim, c.initializer_range, "v_lin", c.dim)
        self.out_lin = dense(c.dim, c.initializer_range, "out_lin", c.dim)
        self.dropout = keras.layers.Dropout(c.attention_dropout)

    def call(self, hidden: Any, key_mask: Any, head_mask: Any, training: bool = False) -> Any:
        batch = shape_list(hidden)[0]

        def heads(x: Any) -> Any:
            return tf.transpose(tf.reshape(x, (batch, -1, self.n_heads, self.head_size)), [0, 2, 1, 3])

        q, k, v = heads(self.q_lin(hidden)), heads(self.k_lin(hidden)), heads(self.v_lin(hidden))
        scores = tf.matmul(q * tf.cast(1 / math.sqrt(self.head_size), q.dtype), k, transpose_b=True)
        if key_mask is not None:  # transformers' TF DistilBERT subtracts 1e30 at masked keys
            scores = scores - tf.cast(1e30, scores.dtype) * (1.0 - tf.cast(key_mask[:, None, None, :], scores.dtype))
        probs = self.dropout(stable_softmax(scores), training=training)
        if head_mask is not None:
            probs = probs * head_mask
        context = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), (batch, -1, self.n_heads * self.head_size))
        return self.out_lin(context), probs


class TFFFN(keras.layers.Layer):
    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = config
        self.lin1 = dense(c.hidden_dim, c.initializer_range, "lin1", c.dim)
        self.lin2 = dense(c.dim, c.initializer_range, "lin2", c.hidden_dim)
        self.activation = activation(c.activation)
        self.dropout = keras.layers.Dropout(c.dropout)

    def call(self, hidden: Any, training: bool = False) -> Any:
        return self.dropout(self.lin2(self.activation(self.lin1(hidden))), training=training)


class TFTransformerBlock(keras.layers.Layer):
    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention = TFMultiHeadSelfAttention(config, name="attention")
        self.sa_layer_norm = layer_norm(NORM_EPS, "sa_layer_norm", config.dim)
        self.ffn = TFFFN(config, name="ffn")
        self.output_layer_norm = layer_norm(NORM_EPS, "output_layer_norm", config.dim)

    def call(self, hidden: Any, key_mask: Any, head_mask: Any, training: bool = False) -> Any:
        attended, probs = self.attention(hidden, key_mask, head_mask, training=training)  # Keras reserves `mask`
        attended = self.sa_layer_norm(attended + hidden)
        return self.output_layer_norm(self.ffn(attended, training=training) + attended), probs


class TFTransformer(keras.layers.Layer):
    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = [TFTransformerBlock(config, name=f"layer_._{i}") for i in range(config.n_layers)]

    def call(self, hidden: Any, key_mask: Any, head_mask: Any, training: bool = False) -> Any:
        states, attentions = [hidden], []
        for i, block in enumerate(self.layer):
            hidden, probs = block(hidden, key_mask, head_mask[i], training=training)
            states.append(hidden)
            attentions.append(probs)
        return hidden, tuple(states), tuple(attentions)


class TFDistilBertMainLayer(keras.layers.Layer):
    """The encoder (``distilbert/...``), shared by the bare model and the heads."""

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = TFEmbeddings(config, name="embeddings")
        self.transformer = TFTransformer(config, name="transformer")

    def get_input_embeddings(self) -> WeightEmbedding:
        return self.embeddings.word_embeddings

    def call(self, input_ids: Any, attention_mask: Any = None, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, training: bool = False) -> ModelOutput:
        hidden = self.embeddings(input_ids, training=training)
        head_mask = expand_head_mask(head_mask, self.config.n_layers)
        last, states, attentions = self.transformer(hidden, attention_mask, head_mask, training=training)
        return ModelOutput(last_hidden_state=last, hidden_states=states if output_hidden_states else None,
                           attentions=attentions if output_attentions else None)


class TFDistilBertPreTrainedModel(TFPreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    label_names: tuple[str, ...] = ("labels",)

    @property
    def input_signature(self) -> dict[str, Any]:
        return {name: tf.TensorSpec((None, None), tf.int32, name=name) for name in ("input_ids", "attention_mask")}

    def _encode(self, input_ids: Any, values: dict[str, Any], output_hidden_states: bool, output_attentions: bool,
                training: bool) -> tuple[Any, dict[str, Any]]:
        """The encoder's output and the labels given (inline in a dict input, as fit() passes them)."""
        x = self._unpack(input_ids, values)
        labels = {name: x.pop(name, None) for name in self.label_names}
        out = self.distilbert(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                              training=training)
        return out, labels


class TFDistilBertModel(TFDistilBertPreTrainedModel):
    is_base_model = True

    def __init__(self, config: DistilBertConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")

    def call(self, input_ids: Any = None, attention_mask: Any = None, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, training: bool = False) -> ModelOutput:
        out, _ = self._encode(input_ids, dict(attention_mask=attention_mask, head_mask=head_mask), output_hidden_states,
                              output_attentions, training)
        return out


class TFDistilBertLMHead(keras.layers.Layer):
    """``vocab_projector``: the word embeddings (transposed; an own ``decoder`` when untied) plus ``bias``."""

    builds_without_input_shape = True  # the bias is sized by the vocabulary

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = config.vocab_size
        self.decoder = None if config.tie_word_embeddings else OutputProjection(
            config.vocab_size, config.dim, config.initializer_range, name="decoder")

    def build(self, input_shape: Any = None) -> None:
        self.bias = self.add_weight(name="bias", shape=(self.vocab_size,), initializer="zeros")
        super().build(input_shape)

    def call(self, hidden: Any, table: WeightEmbedding) -> Any:
        return (table.attend(hidden) if self.decoder is None else self.decoder(hidden)) + self.bias


class TFDistilBertForMaskedLM(TFDistilBertPreTrainedModel):
    def __init__(self, config: DistilBertConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.vocab_transform = dense(config.dim, config.initializer_range, "vocab_transform", config.dim)
        self.act = activation(config.activation)
        self.vocab_layer_norm = layer_norm(NORM_EPS, "vocab_layer_norm", config.dim)
        self.vocab_projector = TFDistilBertLMHead(config, name="vocab_projector")

    def get_output_embeddings(self) -> Any:
        decoder = self.vocab_projector.decoder
        return self.get_input_embeddings() if decoder is None else decoder

    def get_lm_head(self) -> TFDistilBertLMHead:
        return self.vocab_projector

    def call(self, input_ids: Any = None, attention_mask: Any = None, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, labels: Any = None, training: bool = False) -> ModelOutput:
        out, given = self._encode(input_ids, dict(attention_mask=attention_mask, head_mask=head_mask, labels=labels),
                                  output_hidden_states, output_attentions, training)
        hidden = self.vocab_layer_norm(self.act(self.vocab_transform(out["last_hidden_state"])))
        logits = self.vocab_projector(hidden, table=self.distilbert.get_input_embeddings())
        loss = None if given["labels"] is None else masked_lm_loss(self.config, logits, given["labels"], TF_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions,
                           last_hidden_state=out["last_hidden_state"])


class TFDistilBertForSequenceClassification(TFDistilBertPreTrainedModel):
    """On the first token: ``pre_classifier`` with ReLU, dropout (``seq_classif_dropout``), ``classifier``."""

    def __init__(self, config: DistilBertConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.num_labels = config.num_labels
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.pre_classifier = dense(config.dim, config.initializer_range, "pre_classifier", config.dim, activation="relu")
        self.classifier = dense(config.num_labels, config.initializer_range, "classifier", config.dim)
        self.dropout = keras.layers.Dropout(config.seq_classif_dropout)

    def call(self, input_ids: Any = None, attention_mask: Any = None, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, labels: Any = None, training: bool = False) -> ModelOutput:
        out, given = self._encode(input_ids, dict(attention_mask=attention_mask, head_mask=head_mask, labels=labels),
                                  output_hidden_states, output_attentions, training)
        pooled = self.dropout(self.pre_classifier(out["last_hidden_state"][:, 0]), training=training)
        logits = self.classifier(pooled)
        labels = given["labels"]
        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels, TF_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class TFDistilBertForTokenClassification(TFDistilBertPreTrainedModel):
    """Dropout and a ``classifier`` on every token; labels of -100 add no loss."""

    def __init__(self, config: DistilBertConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.num_labels = config.num_labels
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.dropout = keras.layers.Dropout(config.dropout)
        self.classifier = dense(config.num_labels, config.initializer_range, "classifier", config.dim)

    def call(self, input_ids: Any = None, attention_mask: Any = None, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, labels: Any = None, training: bool = False) -> ModelOutput:
        out, given = self._encode(input_ids, dict(attention_mask=attention_mask, head_mask=head_mask, labels=labels),
                                  output_hidden_states, output_attentions, training)
        logits = self.classifier(self.dropout(out["last_hidden_state"], training=training))
        labels = given["labels"]
        loss = None if labels is None else token_classification_loss(self.config, logits, labels, TF_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class TFDistilBertForQuestionAnswering(TFDistilBertPreTrainedModel):
    """Dropout (``qa_dropout``) and ``qa_outputs`` on every token: the answer's start and end scores."""

    label_names = ("start_positions", "end_positions")

    def __init__(self, config: DistilBertConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.qa_outputs = dense(config.num_labels, config.initializer_range, "qa_outputs", config.dim)
        self.dropout = keras.layers.Dropout(config.qa_dropout)

    def call(self, input_ids: Any = None, attention_mask: Any = None, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, start_positions: Any = None, end_positions: Any = None,
             training: bool = False) -> ModelOutput:
        out, given = self._encode(input_ids, dict(attention_mask=attention_mask, head_mask=head_mask,
                                                  start_positions=start_positions, end_positions=end_positions),
                                  output_hidden_states, output_attentions, training)
        logits = self.qa_outputs(self.dropout(out["last_hidden_state"], training=training))
        start_logits, end_logits = (tf.squeeze(x, axis=-1) for x in tf.split(logits, 2, axis=-1))
        loss = None
        if given["start_positions"] is not None and given["end_positions"] is not None:
            loss = question_answering_loss(start_logits, end_logits, given["start_positions"], given["end_positions"],
                                           TF_LOSS_OPS)
        return ModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits, hidden_states=out.hidden_states,
                           attentions=out.attentions)


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
DISTILBERT_CLASSES = {cls.__name__.removeprefix("TF"): cls for cls in (
    TFDistilBertModel, TFDistilBertForMaskedLM, TFDistilBertForSequenceClassification, TFDistilBertForTokenClassification,
    TFDistilBertForQuestionAnswering)}
