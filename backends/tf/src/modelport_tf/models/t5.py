"""T5 on Keras 3 with transformers 4.x's TF names (``shared/embeddings``, ``encoder/block_._<i>/layer_._<j>/
SelfAttention/q``, ``decoder/block_._<i>/layer_._1/EncDecAttention``, ``lm_head``), outputs, label shifting and
loss. The whole decoder runs on every call (no cache here yet)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport import T5Config
from modelport.models.losses import masked_lm_loss
from modelport.models.t5 import BucketOps, relative_position_buckets, shift_tokens

from .._keras import keras, tf
from ..generation import TFSeq2SeqGenerationMixin, write_cache
from ..layers import WeightEmbedding, activation, dense, shape_list
from ..losses import TF_LOSS_OPS
from ..modeling import ModelOutput, TFPreTrainedModel

__all__ = ["T5_CLASSES", "TFT5Model", "TFT5ForConditionalGeneration", "TFT5EncoderModel", "TFT5PreTrainedModel"]

TF_BUCKET_OPS = BucketOps(abs=tf.abs, log=tf.math.log, minimum=tf.minimum, maximum=tf.maximum, where=tf.where,
                          to_float32=lambda x: tf.cast(x, tf.float32), to_int=lambda x: tf.cast(x, tf.int32))


class TFT5LayerNorm(keras.layers.Layer):
    """RMS norm without bias or mean, in float32 (``weight`` only)."""

    builds_without_input_shape = True

    def __init__(self, width: int, eps: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.width, self.eps = width, eps

    def build(self, input_shape: Any = None) -> None:
        self.weight = self.add_weight(name="weight", shape=(self.width,), initializer="ones")
        super().build(input_shape)

    def call(self, hidden: Any) -> Any:
        x = tf.cast(hidden, tf.float32)
        x = x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + self.eps)
        return tf.cast(self.weight, hidden.dtype) * tf.cast(x, hidden.dtype)


def _linear(units: int, name: str, width: int, config: T5Config) -> Any:
    return dense(units, config.initializer_factor * width ** -0.5, name, width, use_bias=False)


class TFT5DenseReluDense(keras.layers.Layer):
    """``wo(act(wi(x)))``, or gated: ``wo(act(wi_0(x)) * wi_1(x))`` (T5 v1.1)."""

    def __init__(self, config: T5Config, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gated = config.is_gated_act
        if self.gated:
            self.wi_0 = _linear(config.d_ff, "wi_0", config.d_model, config)
            self.wi_1 = _linear(config.d_ff, "wi_1", config.d_model, config)
        else:
            self.wi = _linear(config.d_ff, "wi", config.d_model, config)
        self.wo = _linear(config.d_model, "wo", config.d_ff, config)
        self.dropout = keras.layers.Dropout(config.dropout_rate)
        self.act = activation(config.dense_act_fn)

    def call(self, hidden: Any, training: bool = False) -> Any:
        inner = self.act(self.wi_0(hidden)) * self.wi_1(hidden) if self.gated else self.act(self.wi(hidden))
        return self.wo(self.dropout(inner, training=training))


class TFT5LayerFF(keras.layers.Layer):
    def __init__(self, config: T5Config, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.DenseReluDense = TFT5DenseReluDense(config, name="DenseReluDense")
        self.layer_norm = TFT5LayerNorm(config.d_model, config.layer_norm_epsilon, name="layer_norm")
        self.dropout = keras.layers.Dropout(config.dropout_rate)

    def call(self, hidden: Any, training: bool = False) -> Any:
        return hidden + self.dropout(self.DenseReluDense(self.layer_norm(hidden), training=training), training=training)


class TFT5Attention(keras.layers.Layer):
    """Multi-head attention with no scaling and no biases; a stack's first layer also learns the relative-position
    bias (``relative_attention_bias``)."""

    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config, self.is_decoder = config, is_decoder
        self.n_heads, self.head_dim = config.num_heads, config.d_kv
        inner = self.n_heads * self.head_dim
        for name in ("q", "k", "v"):
            setattr(self, name, _linear(inner, name, config.d_model, config))
        self.o = _linear(config.d_model, "o", inner, config)
        self.dropout = keras.layers.Dropout(config.dropout_rate)
        self.relative_attention_bias = WeightEmbedding(
            config.relative_attention_num_buckets, self.n_heads, config.initializer_factor, name="relative_attention_bias",
        ) if has_relative_attention_bias else None

    def position_bias(self, queries: Any, keys: Any) -> Any:
        """``[1, heads, queries, keys]`` learned bias, queries being the last ``queries`` of ``keys`` positions."""
        return self.bias_for(tf.range(keys)[None, :] - tf.range(keys - queries, keys)[:, None])

    def bias_for(self, relative: Any) -> Any:
        """``[1, heads, queries, keys]`` learned bias of ``relative`` positions (``key - query``)."""
        c = self.config
        buckets = relative_position_buckets(relative, not self.is_decoder, c.relative_attention_num_buckets,
                                            c.relative_attention_max_distance, TF_BUCKET_OPS)
        return tf.transpose(self.relative_attention_bias(buckets), (2, 0, 1))[None]

    def keys_values(self, source: Any) -> tuple[Any, Any]:
        """``(keys, values)`` of ``source``, ``[batch, heads, positions, head_dim]`` (the cache's layout)."""
        return self._heads(self.k(source)), self._heads(self.v(source))

    def attend(self, hidden: Any, bias: Any, keys_values: tuple[Any, Any], training: bool = False) -> tuple[Any, Any]:
        """Attention of ``hidden``'s queries over ``keys_values``: the output and the attention probabilities."""
        scores = tf.matmul(self._heads(self.q(hidden)), tf.cast(keys_values[0], hidden.dtype), transpose_b=True) + bias
        probs = tf.cast(tf.nn.softmax(tf.cast(scores, tf.float32), axis=-1), hidden.dtype)
        context = tf.matmul(self.dropout(probs, training=training), tf.cast(keys_values[1], hidden.dtype))
        context = tf.transpose(context, (0, 2, 1, 3))
        return self.o(tf.reshape(context, (shape_list(hidden)[0], -1, self.n_heads * self.head_dim))), probs

    def attend_cached(self, hidden: Any, bias: Any, keys_values: tuple[Any, Any], write_at: Any = None) -> tuple[Any, Any]:
        """:meth:`attend` over cached keys and values; with ``write_at``, ``hidden``'s own keys and values are written
        into the cache there first (self-attention during generation). Returns the output and the cache."""
        if write_at is not None:
            keys, values = self.keys_values(hidden)
            _, _, keys_values = write_cache(keys_values, keys, values, write_at)
        return self.attend(hidden, bias, keys_values)[0], keys_values

    def _heads(self, x: Any) -> Any:
        return tf.transpose(tf.reshape(x, (shape_list(x)[0], -1, self.n_heads, self.head_dim)), (0, 2, 1, 3))

    def call(self, hidden: Any, bias: Any, key_value_states: Any = None, training: bool = False) -> Any:
        return self.attend(hidden, bias, self.keys_values(hidden if key_value_states is None else key_value_states),
                           training)


class TFT5LayerSelfAttention(keras.layers.Layer):
    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.SelfAttention = TFT5Attention(config, has_relative_attention_bias, is_decoder, name="SelfAttention")
        self.layer_norm = TFT5LayerNorm(config.d_model, config.layer_norm_epsilon, name="layer_norm")
        self.dropout = keras.layers.Dropout(config.dropout_rate)

    def call(self, hidden: Any, bias: Any, training: bool = False) -> Any:
        out, probs = self.SelfAttention(self.layer_norm(hidden), bias, training=training)
        return hidden + self.dropout(out, training=training), probs

    def step(self, hidden: Any, bias: Any, cache: Any, index: Any) -> tuple[Any, Any]:
        out, cache = self.SelfAttention.attend_cached(self.layer_norm(hidden), bias, cache, write_at=index)
        return hidden + out, cache


class TFT5LayerCrossAttention(keras.layers.Layer):
    def __init__(self, config: T5Config, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.EncDecAttention = TFT5Attention(config, False, True, name="EncDecAttention")
        self.layer_norm = TFT5LayerNorm(config.d_model, config.layer_norm_epsilon, name="layer_norm")
        self.dropout = keras.layers.Dropout(config.dropout_rate)

    def call(self, hidden: Any, encoded: Any, bias: Any, training: bool = False) -> Any:
        out, probs = self.EncDecAttention(self.layer_norm(hidden), bias, key_value_states=encoded, training=training)
        return hidden + self.dropout(out, training=training), probs

    def step(self, hidden: Any, bias: Any, keys_values: Any) -> Any:
        return hidden + self.EncDecAttention.attend_cached(self.layer_norm(hidden), bias, keys_values)[0]


class TFT5Block(keras.layers.Layer):
    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.is_decoder = is_decoder
        layers: list[Any] = [TFT5LayerSelfAttention(config, has_relative_attention_bias, is_decoder, name="layer_._0")]
        if is_decoder:
            layers.append(TFT5LayerCrossAttention(config, name="layer_._1"))
        layers.append(TFT5LayerFF(config, name=f"layer_._{len(layers)}"))
        self.layer = layers

    def call(self, hidden: Any, bias: Any, encoded: Any = None, cross_bias: Any = None, training: bool = False) -> Any:
        hidden, probs = self.layer[0](hidden, bias, training=training)
        cross = None
        if self.is_decoder and encoded is not None:
            hidden, cross = self.layer[1](hidden, encoded, cross_bias, training=training)
        return self.layer[-1](hidden, training=training), probs, cross

    def step(self, hidden: Any, bias: Any, cache: Any, cross: Any, cross_bias: Any, index: Any) -> tuple[Any, Any]:
        """One generation step of a decoder block: cached self-attention, cross-attention on the encoder's cached keys
        and values, feed-forward."""
        hidden, cache = self.layer[0].step(hidden, bias, cache, index)
        return self.layer[-1](self.layer[1].step(hidden, cross_bias, cross)), cache


def _additive(allowed: Any, dtype: Any) -> Any:
    return tf.where(allowed, tf.zeros((), dtype), tf.constant(np.finfo(np.float32).min, dtype))


class TFT5Stack(keras.layers.Layer):
    """The encoder or the decoder (on embedded ids): blocks, final norm; the first block's relative bias serves every
    block."""

    def __init__(self, config: T5Config, is_decoder: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.is_decoder = is_decoder
        depth = config.num_decoder_layers if is_decoder else config.num_layers
        self.block = [TFT5Block(config, i == 0, is_decoder, name=f"block_._{i}") for i in range(depth)]
        self.final_layer_norm = TFT5LayerNorm(config.d_model, config.layer_norm_epsilon, name="final_layer_norm")
        self.dropout = keras.layers.Dropout(config.dropout_rate)

    def call(self, embedded: Any, attention_mask: Any = None, encoded: Any = None, encoder_attention_mask: Any = None,
             training: bool = False) -> Any:
        batch, length = shape_list(embedded)[:2]
        bias = self.block[0].layer[0].SelfAttention.position_bias(length, length)
        allowed = tf.ones((batch, 1, 1, length), tf.bool) if attention_mask is None else \
            tf.cast(attention_mask, tf.bool)[:, None, None, :]
        if self.is_decoder:
            allowed = allowed & (tf.range(length)[None, :] <= tf.range(length)[:, None])
        bias = tf.cast(bias, embedded.dtype) + _additive(allowed, embedded.dtype)
        cross_bias = None
        if self.is_decoder and encoded is not None:
            keys = shape_list(encoded)[1]
            mask = tf.ones((batch, keys), tf.bool) if encoder_attention_mask is None else tf.cast(encoder_attention_mask, tf.bool)
            cross_bias = _additive(mask[:, None, None, :], embedded.dtype)
        hidden = self.dropout(embedded, training=training)
        states, attentions, cross_attentions = [], [], []
        for block in self.block:
            states.append(hidden)
            hidden, probs, cross = block(hidden, bias, encoded, cross_bias, training=training)
            attentions.append(probs)
            if cross is not None:
                cross_attentions.append(cross)
        hidden = self.dropout(self.final_layer_norm(hidden), training=training)
        states.append(hidden)
        return hidden, tuple(states), tuple(attentions), tuple(cross_attentions)

    def step(self, embedded: Any, cache: Any, cross: Any, index: Any) -> tuple[Any, Any]:
        """One generation step over the tokens at ``index..``: the bias covers every cache position, the ones not
        written yet masked."""
        width, total = shape_list(embedded)[1], shape_list(cache[0][0])[2]
        relative = tf.range(total)[None, :] - (index + tf.range(width))[:, None]
        bias = tf.cast(self.block[0].layer[0].SelfAttention.bias_for(relative), embedded.dtype) + \
            _additive(relative <= 0, embedded.dtype)
        hidden, caches = embedded, []
        for block, layer_cache, layer_cross in zip(self.block, cache, cross["layers"]):
            hidden, layer_cache = block.step(hidden, bias, layer_cache, layer_cross, cross["bias"], index)
            caches.append(layer_cache)
        return self.final_layer_norm(hidden), tuple(caches)

    def cross_keys_values(self, encoded: Any) -> tuple[Any, ...]:
        return tuple(block.layer[1].EncDecAttention.keys_values(encoded) for block in self.block)


class TFT5PreTrainedModel(TFPreTrainedModel):
    config_class = T5Config
    base_model_prefix = "transformer"
    has_decoder = True

    def __init__(self, config: T5Config, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.shared = WeightEmbedding(config.vocab_size, config.d_model, config.initializer_factor, name="shared")
        self.encoder = TFT5Stack(config, is_decoder=False, name="encoder")
        if self.has_decoder:
            self.decoder = TFT5Stack(config, is_decoder=True, name="decoder")

    def get_input_embeddings(self) -> Any:
        return self.shared

    @property
    def dummy_inputs(self) -> dict[str, Any]:
        ids = tf.constant([[3, 4, 5]], tf.int32)
        return {"input_ids": ids, "decoder_input_ids": ids} if self.has_decoder else {"input_ids": ids}

    @property
    def input_signature(self) -> dict[str, Any]:
        names = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask") if self.has_decoder else \
            ("input_ids", "attention_mask")
        return {name: tf.TensorSpec((None, None), tf.int32, name=name) for name in names}

    def shift_right(self, labels: Any) -> Any:
        """``decoder_input_ids`` from ``labels``: the start token first, labels one step right, -100 as padding."""
        start, pad = shift_tokens(self.config)
        labels = tf.cast(labels, tf.int32)
        shifted = tf.concat([tf.fill((shape_list(labels)[0], 1), start), labels[:, :-1]], axis=1)
        return tf.where(shifted == -100, pad, shifted)

    def _encode(self, x: dict[str, Any], training: bool) -> ModelOutput:
        given = x.get("encoder_outputs")
        if given is not None:
            return given if isinstance(given, ModelOutput) else ModelOutput(last_hidden_state=given[0])
        last, states, attentions, _ = self.encoder(self.shared(x["input_ids"]), x.get("attention_mask"), training=training)
        return ModelOutput(last_hidden_state=last, hidden_states=states, attentions=attentions)

    def _decode(self, x: dict[str, Any], encoded: ModelOutput, training: bool) -> Any:
        return self.decoder(self.shared(x["decoder_input_ids"]), x.get("decoder_attention_mask"), encoded.last_hidden_state,
                            x.get("attention_mask"), training=training)


def _seq2seq_output(states: Any, attentions: Any, cross: Any, encoded: ModelOutput, hidden: bool, attended: bool,
                    **first: Any) -> ModelOutput:
    return ModelOutput(**first, decoder_hidden_states=states if hidden else None,
                       decoder_attentions=attentions if attended else None, cross_attentions=cross if attended else None,
                       encoder_last_hidden_state=encoded.last_hidden_state,
                       encoder_hidden_states=encoded.hidden_states if hidden else None,
                       encoder_attentions=encoded.attentions if attended else None)


class TFT5EncoderModel(TFT5PreTrainedModel):
    """The encoder alone: ``last_hidden_state``."""

    has_decoder = False

    def call(self, input_ids: Any = None, attention_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, training: bool = False) -> ModelOutput:
        encoded = self._encode(self._unpack(input_ids, dict(attention_mask=attention_mask)), training)
        return ModelOutput(last_hidden_state=encoded.last_hidden_state,
                           hidden_states=encoded.hidden_states if output_hidden_states else None,
                           attentions=encoded.attentions if output_attentions else None)


class TFT5Model(TFT5PreTrainedModel):
    """Encoder and decoder: the decoder's ``last_hidden_state`` and the encoder's."""

    def call(self, input_ids: Any = None, attention_mask: Any = None, decoder_input_ids: Any = None,
             decoder_attention_mask: Any = None, encoder_outputs: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, training: bool = False) -> ModelOutput:
        x = self._unpack(input_ids, dict(attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                                         decoder_attention_mask=decoder_attention_mask))
        x["encoder_outputs"] = encoder_outputs
        encoded = self._encode(x, training)
        last, states, attentions, cross = self._decode(x, encoded, training)
        return _seq2seq_output(states, attentions, cross, encoded, output_hidden_states, output_attentions,
                               last_hidden_state=last)


class TFT5ForConditionalGeneration(TFSeq2SeqGenerationMixin, TFT5PreTrainedModel):
    """T5 with its language-model head: ``labels`` make ``decoder_input_ids`` (shifted right) and the loss;
    ``generate()`` runs the encoder once and the decoder a token a step in one XLA-compiled loop."""

    label_names = ("labels",)

    def __init__(self, config: T5Config, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.lm_head = None if config.tie_word_embeddings else _linear(config.vocab_size, "lm_head", config.d_model, config)

    def get_output_embeddings(self) -> Any:
        return self.shared if self.lm_head is None else self.lm_head

    def cache_layout(self) -> tuple[int, int, int]:
        return self.config.num_decoder_layers, self.config.num_heads, self.config.d_kv

    def _logits(self, last: Any) -> Any:
        if self.lm_head is None:  # v1.0: scaled onto the tied embeddings
            return self.shared.attend(last * (self.config.d_model ** -0.5))
        return self.lm_head(last)

    def encode_for_generation(self, input_ids: Any, attention_mask: Any) -> dict[str, Any]:
        """What every generation step needs from the encoder: each decoder layer's cross-attention keys and values,
        and the encoder mask's additive bias."""
        encoded = self.encoder(self.shared(input_ids), attention_mask)[0]
        return {"layers": self.decoder.cross_keys_values(encoded),
                "bias": _additive(tf.cast(attention_mask, tf.bool)[:, None, None, :], encoded.dtype)}

    def decode_step(self, tokens: Any, cache: dict[str, Any], index: Any) -> tuple[Any, dict[str, Any]]:
        """The next token's logits after ``tokens`` (written at ``index`` of the self-attention cache) and the cache."""
        hidden, self_cache = self.decoder.step(self.shared(tokens), cache["self"], cache["cross"], index)
        return self._logits(hidden[:, -1]), {"self": self_cache, "cross": cache["cross"]}

    def call(self, input_ids: Any = None, attention_mask: Any = None, decoder_input_ids: Any = None,
             decoder_attention_mask: Any = None, encoder_outputs: Any = None, labels: Any = None,
             output_hidden_states: bool = False, output_attentions: bool = False, training: bool = False) -> ModelOutput:
        x = self._unpack(input_ids, dict(attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                                         decoder_attention_mask=decoder_attention_mask, labels=labels))
        labels = x.pop("labels", None)
        if labels is not None and x.get("decoder_input_ids") is None:
            x["decoder_input_ids"] = self.shift_right(labels)
        x["encoder_outputs"] = encoder_outputs
        encoded = self._encode(x, training)
        last, states, attentions, cross = self._decode(x, encoded, training)
        logits = self._logits(last)
        loss = None if labels is None else masked_lm_loss(self.config, logits, labels, TF_LOSS_OPS)
        return _seq2seq_output(states, attentions, cross, encoded, output_hidden_states, output_attentions, loss=loss,
                               logits=logits)


#: T5's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
T5_CLASSES = {cls.__name__.removeprefix("TF"): cls for cls in (TFT5Model, TFT5ForConditionalGeneration, TFT5EncoderModel)}
