"""The Llama-family decoder on Keras 3 (TensorFlow), with transformers 4.x's TF variable names and outputs.

transformers 4.57.6 has a TF class for Mistral only; this one implementation
also serves Llama, Qwen2 and Gemma, whose differences come from the core's
:mod:`modelport.models.decoders` and whose rotary frequencies come from
:func:`modelport.models.rope.rope_parameters`. Variable names follow
transformers' TF Mistral (``model/layers.0/self_attn/q_proj/kernel:0``,
``model/embed_tokens/embeddings:0``, ``lm_head/kernel:0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport import GemmaConfig, LlamaConfig, MistralConfig, PretrainedConfig, Qwen2Config
from modelport.models.decoders import decoder_facts
from modelport.models.losses import sequence_classification_loss
from modelport.models.rope import ROPE_SCALINGS, rope_parameters, rope_type

from .._keras import keras, tf
from ..generation import TFGenerationMixin, write_cache
from ..layers import OutputProjection, WeightEmbedding, activation, dense, replace_variable
from ..losses import TF_LOSS_OPS
from ..modeling import ModelOutput, TFPreTrainedModel, masked_mean_loss

__all__ = ["TFDecoderMainLayer", "TFRMSNorm", "decoder_bias", "DECODER_CLASSES"] + [
    f"TF{family}{kind}" for family in ("Llama", "Mistral", "Qwen2", "Gemma")
    for kind in ("Model", "ForCausalLM", "ForSequenceClassification")]


class TFRMSNorm(keras.layers.Layer):
    """RMS norm in float32; the scale is ``offset + weight`` (Gemma: offset 1, weight from 0)."""

    builds_without_input_shape = True  # sized by the constructor

    def __init__(self, size: int, eps: float, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size, self.eps, self.offset = size, eps, offset

    def build(self, input_shape: Any = None) -> None:
        self.weight = self.add_weight(name="weight", shape=(self.size,), initializer="zeros" if self.offset else "ones")
        super().build(input_shape)

    def call(self, x: Any) -> Any:
        x32 = tf.cast(x, tf.float32)
        normed = x32 * tf.math.rsqrt(tf.reduce_mean(tf.square(x32), axis=-1, keepdims=True) + self.eps)
        if self.offset:
            return tf.cast(normed * (self.offset + tf.cast(self.weight, tf.float32)), x.dtype)
        return tf.cast(self.weight, x.dtype) * tf.cast(normed, x.dtype)


def _frequencies(config: PretrainedConfig, position_ids: Any, longest_possible: int | None = None) -> tuple[Any, float]:
    """The core's inverse frequencies. For dynamic scaling they depend on the longest position: computed by the core on
    the host (``tf.numpy_function``), or, when the longest possible length is known (a cache's size, as in XLA-compiled
    generation, where host calls cannot run), looked up in a table the core made for every length up to it."""
    inv_freq, scaling = rope_parameters(config)
    if not ROPE_SCALINGS[rope_type(config)].grows_with_length:
        return tf.constant(inv_freq), scaling
    longest = tf.reduce_max(position_ids) + 1
    if longest_possible is not None:
        table = np.stack([rope_parameters(config, length)[0] for length in range(1, longest_possible + 1)])
        return tf.gather(tf.constant(table), tf.minimum(longest, longest_possible) - 1), scaling

    def for_length(longest: Any) -> np.ndarray:
        return rope_parameters(config, int(longest))[0]

    frequencies = tf.numpy_function(for_length, [longest], tf.float32)
    frequencies.set_shape(inv_freq.shape)
    return frequencies, scaling


def _rotate_half(x: Any) -> Any:
    first, second = tf.split(x, 2, axis=-1)
    return tf.concat([-second, first], axis=-1)


def decoder_bias(attention_mask: Any, length: Any, window: int | None, dtype: Any, keys: Any = None, offset: Any = 0) -> Any:
    """``[batch, 1, q, k]`` for ``length`` queries from position ``offset`` over ``keys`` keys (a cache's size; default
    ``length``): 0 where attention is allowed (causal, within ``window``, not padding), the dtype's minimum elsewhere.
    A row with nothing allowed (a left-padding position, never read later) allows all."""
    q = tf.range(length)[:, None] + offset
    k = tf.range(length if keys is None else keys)[None, :]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (k > q - window)
    allowed = allowed[None, None] & (tf.cast(attention_mask, tf.int32)[:, None, None, :] > 0)
    allowed = allowed | ~tf.reduce_any(allowed, axis=-1, keepdims=True)
    return tf.where(allowed, tf.zeros((), dtype), tf.constant(tf.as_dtype(dtype).min, dtype))


class TFDecoderAttention(keras.layers.Layer):
    def __init__(self, config: PretrainedConfig, layer: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        facts, c = decoder_facts(config), config
        self.head_dim, self.window = facts.head_dim(c), facts.sliding_window(c, layer)
        self.num_heads, self.num_kv_heads = c.num_attention_heads, c.num_key_value_heads
        qkv_bias, init, width = facts.qkv_bias(c), c.initializer_range, c.hidden_size
        self.q_proj = dense(self.num_heads * self.head_dim, init, "q_proj", width, use_bias=qkv_bias)
        self.k_proj = dense(self.num_kv_heads * self.head_dim, init, "k_proj", width, use_bias=qkv_bias)
        self.v_proj = dense(self.num_kv_heads * self.head_dim, init, "v_proj", width, use_bias=qkv_bias)
        self.o_proj = dense(width, init, "o_proj", self.num_heads * self.head_dim, use_bias=facts.output_bias(c))
        self.dropout = keras.layers.Dropout(c.attention_dropout)

    def call(self, hidden: Any, cos: Any, sin: Any, biases: dict, output_attentions: bool = False, training: bool = False,
             cache: Any = None, cache_index: Any = None) -> Any:
        batch, length = tf.shape(hidden)[0], tf.shape(hidden)[1]
        rows = tf.reshape(hidden, (-1, hidden.shape[-1]))  # 2-D projections: one GEMM each, not a batched matmul

        def heads(x: Any, count: int) -> Any:
            return tf.transpose(tf.reshape(x, (batch, length, count, self.head_dim)), [0, 2, 1, 3])

        q, k, v = heads(self.q_proj(rows), self.num_heads), heads(self.k_proj(rows), self.num_kv_heads), heads(
            self.v_proj(rows), self.num_kv_heads)
        q = q * cos[:, None] + _rotate_half(q) * sin[:, None]
        k = k * cos[:, None] + _rotate_half(k) * sin[:, None]
        if cache is not None:  # a fixed-size cache: these positions are written at cache_index, every key is attended
            k, v, cache = write_cache(cache, k, v, cache_index)
        keys = tf.shape(k)[2]
        # grouped-query attention without copying k and v: each key/value head serves `groups` query heads by broadcasting
        groups = self.num_heads // self.num_kv_heads
        # the scale on q, not on the scores: fewer elements whenever the sequence is longer than a head
        q = tf.reshape(q * tf.cast(self.head_dim**-0.5, q.dtype), (batch, self.num_kv_heads, groups, length, self.head_dim))
        k, v = k[:, :, None], v[:, :, None]
        scores = tf.matmul(q, k, transpose_b=True)
        scores = tf.reshape(scores, (batch, self.num_heads, length, keys)) + biases[self.window]
        probs = tf.cast(tf.nn.softmax(tf.cast(scores, tf.float32), axis=-1), q.dtype)
        grouped = tf.reshape(self.dropout(probs, training=training), (batch, self.num_kv_heads, groups, length, keys))
        out = tf.reshape(tf.matmul(grouped, v), (batch, self.num_heads, length, self.head_dim))
        out = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), (-1, self.num_heads * self.head_dim))
        return tf.reshape(self.o_proj(out), (batch, length, -1)), (probs if output_attentions else None), cache


class TFDecoderMLP(keras.layers.Layer):
    def __init__(self, config: PretrainedConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c, bias = config, decoder_facts(config).mlp_bias(config)
        self.gate_proj = dense(c.intermediate_size, c.initializer_range, "gate_proj", c.hidden_size, use_bias=bias)
        self.up_proj = dense(c.intermediate_size, c.initializer_range, "up_proj", c.hidden_size, use_bias=bias)
        self.down_proj = dense(c.hidden_size, c.initializer_range, "down_proj", c.intermediate_size, use_bias=bias)
        self.act = activation(c.hidden_act)

    def call(self, x: Any) -> Any:
        rows = tf.reshape(x, (-1, x.shape[-1]))  # 2-D: one GEMM per projection
        return tf.reshape(self.down_proj(self.act(self.gate_proj(rows)) * self.up_proj(rows)), tf.shape(x))


class TFDecoderLayer(keras.layers.Layer):
    def __init__(self, config: PretrainedConfig, layer: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c, offset = config, decoder_facts(config).norm_offset
        self.self_attn = TFDecoderAttention(c, layer, name="self_attn")
        self.mlp = TFDecoderMLP(c, name="mlp")
        self.input_layernorm = TFRMSNorm(c.hidden_size, c.rms_norm_eps, offset, name="input_layernorm")
        self.post_attention_layernorm = TFRMSNorm(c.hidden_size, c.rms_norm_eps, offset, name="post_attention_layernorm")

    def call(self, hidden: Any, cos: Any, sin: Any, biases: dict, output_attentions: bool = False, training: bool = False,
             cache: Any = None, cache_index: Any = None) -> Any:
        attended, probs, cache = self.self_attn(self.input_layernorm(hidden), cos, sin, biases, output_attentions=output_attentions,
                                                training=training, cache=cache, cache_index=cache_index)
        hidden = hidden + attended
        return hidden + self.mlp(self.post_attention_layernorm(hidden)), probs, cache


class TFDecoderMainLayer(keras.layers.Layer):
    """The decoder (``model/...``): embeddings, ``layers.N``, the final norm; shared by every head."""

    def __init__(self, config: PretrainedConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.facts = decoder_facts(config)
        c = config
        self.embed_tokens = WeightEmbedding(c.vocab_size, c.hidden_size, c.initializer_range, name="embed_tokens")
        self.decoder_layers = [TFDecoderLayer(c, i, name=f"layers.{i}") for i in range(c.num_hidden_layers)]
        self.norm = TFRMSNorm(c.hidden_size, c.rms_norm_eps, self.facts.norm_offset, name="norm")

    def get_input_embeddings(self) -> WeightEmbedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: Any) -> None:
        replace_variable(self.embed_tokens, "weight", value)
        self.embed_tokens.vocab_size = int(self.embed_tokens.weight.shape[0])

    def call(self, input_ids: Any, attention_mask: Any = None, position_ids: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, training: bool = False, cache: Any = None, cache_index: Any = None) -> ModelOutput:
        """With ``cache`` (per layer, keys and values of a fixed size, :func:`~modelport_tf.generation.init_cache`), these
        positions are written at ``cache_index`` and the updated cache is ``past_key_values``; the attention mask then
        covers the whole cache."""
        batch, length = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
        hidden = self.embed_tokens(input_ids)
        if self.facts.scales_embeddings:
            hidden = hidden * tf.cast(self.config.hidden_size**0.5, hidden.dtype)
        if attention_mask is None:
            attention_mask = tf.ones((batch, length), tf.int32)
        if position_ids is None:  # 0..s-1 in every row, as transformers' forward (generation derives them from the mask)
            position_ids = tf.broadcast_to(tf.range(length)[None, :], (batch, length))
        inv_freq, scaling = _frequencies(self.config, position_ids, None if cache is None else int(cache[0][0].shape[2]))
        freqs = tf.cast(position_ids, tf.float32)[..., None] * inv_freq[None, None, :]
        angles = tf.concat([freqs, freqs], axis=-1)
        cos, sin = tf.cast(tf.cos(angles) * scaling, hidden.dtype), tf.cast(tf.sin(angles) * scaling, hidden.dtype)
        windows = {layer.self_attn.window for layer in self.decoder_layers}
        keys = None if cache is None else tf.shape(cache[0][0])[2]
        biases = {window: decoder_bias(attention_mask, length, window, hidden.dtype, keys, 0 if cache is None else cache_index)
                  for window in windows}
        states, attentions, caches = [hidden], [], []
        for index, layer in enumerate(self.decoder_layers):
            hidden, probs, layer_cache = layer(hidden, cos, sin, biases, output_attentions=output_attentions, training=training,
                                               cache=None if cache is None else cache[index], cache_index=cache_index)
            states.append(hidden)
            attentions.append(probs)
            caches.append(layer_cache)
        hidden = self.norm(hidden)
        states[-1] = hidden  # transformers reports the last hidden state after the final norm
        return ModelOutput(last_hidden_state=hidden, past_key_values=None if cache is None else tuple(caches),
                           hidden_states=tuple(states) if output_hidden_states else None,
                           attentions=tuple(attentions) if output_attentions else None)


class TFDecoderPreTrainedModel(TFPreTrainedModel):
    base_model_prefix = "model"

    def _decode(self, input_ids: Any, values: dict[str, Any], output_hidden_states: bool, output_attentions: bool,
                training: bool) -> tuple[ModelOutput, Any, dict[str, Any]]:
        x = self._unpack(input_ids, values)
        labels = x.pop("labels", None)
        x.pop("token_type_ids", None)  # accepted for dict inputs made for BERT-style tokenizers; the family has none
        out = self.model(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions, training=training)
        return out, labels, x


class TFDecoderModel(TFDecoderPreTrainedModel):
    """The bare decoder: ``last_hidden_state`` after the final norm."""

    is_base_model = True

    def __init__(self, config: PretrainedConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.model = TFDecoderMainLayer(config, name="model")

    def call(self, input_ids: Any = None, attention_mask: Any = None, position_ids: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, training: bool = False) -> ModelOutput:
        out, _, _ = self._decode(input_ids, dict(attention_mask=attention_mask, position_ids=position_ids), output_hidden_states,
                                 output_attentions, training)
        return out


class TFDecoderForCausalLM(TFGenerationMixin, TFDecoderPreTrainedModel):
    """The decoder with its language-model head: the embedding table when tied, ``lm_head`` otherwise."""

    def cache_layout(self) -> tuple[int, int, int]:
        c = self.config
        return c.num_hidden_layers, c.num_key_value_heads, decoder_facts(c).head_dim(c)

    def generation_step(self, tokens: Any, mask: Any, positions: Any, cache: Any, index: Any) -> tuple[Any, Any]:
        """The float32 logits after ``tokens`` (written at ``index`` of the cache), and the cache."""
        out = self.model(tokens, attention_mask=mask, position_ids=positions, cache=cache, cache_index=index)
        hidden = out["last_hidden_state"][:, -1:]
        logits = self.model.embed_tokens.attend(hidden) if self.lm_head is None else self.lm_head(hidden)
        return tf.cast(logits[:, -1], tf.float32), out["past_key_values"]

    def __init__(self, config: PretrainedConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.model = TFDecoderMainLayer(config, name="model")
        self.lm_head = None if config.tie_word_embeddings else OutputProjection(
            config.vocab_size, config.hidden_size, config.initializer_range, name="lm_head")

    def get_output_embeddings(self) -> Any:
        return self.get_input_embeddings() if self.lm_head is None else self.lm_head

    def call(self, input_ids: Any = None, attention_mask: Any = None, position_ids: Any = None, labels: Any = None,
             output_hidden_states: bool = False, output_attentions: bool = False, training: bool = False) -> ModelOutput:
        out, labels, _ = self._decode(input_ids, dict(attention_mask=attention_mask, position_ids=position_ids, labels=labels),
                                      output_hidden_states, output_attentions, training)
        hidden = out["last_hidden_state"]
        logits = self.model.embed_tokens.attend(hidden) if self.lm_head is None else self.lm_head(hidden)
        loss = masked_mean_loss(labels[:, 1:], logits[:, :-1]) if labels is not None else None
        # last_hidden_state is modelport's addition to transformers' TFCausalLMOutputWithPast, after its fields
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions,
                           last_hidden_state=hidden)


class TFDecoderForSequenceClassification(TFDecoderPreTrainedModel):
    """A ``score`` head on each row's last token that is not ``pad_token_id`` (the rightmost one: left padding works)."""

    def __init__(self, config: PretrainedConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.model = TFDecoderMainLayer(config, name="model")
        self.score = dense(config.num_labels, config.initializer_range, "score", config.hidden_size, use_bias=False)

    def call(self, input_ids: Any = None, attention_mask: Any = None, position_ids: Any = None, labels: Any = None,
             output_hidden_states: bool = False, output_attentions: bool = False, training: bool = False) -> ModelOutput:
        out, labels, x = self._decode(input_ids, dict(attention_mask=attention_mask, position_ids=position_ids, labels=labels),
                                      output_hidden_states, output_attentions, training)
        logits = self.score(out["last_hidden_state"])
        ids = tf.cast(x["input_ids"], tf.int32)
        if self.config.pad_token_id is None:
            last = tf.fill(tf.shape(ids)[:1], tf.shape(ids)[1] - 1)
        else:
            positions = tf.range(tf.shape(ids)[1])[None, :]
            last = tf.argmax(positions * tf.cast(ids != self.config.pad_token_id, tf.int32), axis=-1, output_type=tf.int32)
        pooled = tf.gather(logits, last, batch_dims=1)
        loss = None if labels is None else sequence_classification_loss(self.config, pooled, labels, TF_LOSS_OPS)
        return ModelOutput(loss=loss, logits=pooled, hidden_states=out.hidden_states, attentions=out.attentions)


class TFLlamaPreTrainedModel(TFDecoderPreTrainedModel):
    config_class = LlamaConfig


class TFLlamaModel(TFDecoderModel, TFLlamaPreTrainedModel):
    pass


class TFLlamaForCausalLM(TFDecoderForCausalLM, TFLlamaPreTrainedModel):
    pass


class TFLlamaForSequenceClassification(TFDecoderForSequenceClassification, TFLlamaPreTrainedModel):
    pass


class TFMistralPreTrainedModel(TFDecoderPreTrainedModel):
    config_class = MistralConfig


class TFMistralModel(TFDecoderModel, TFMistralPreTrainedModel):
    pass


class TFMistralForCausalLM(TFDecoderForCausalLM, TFMistralPreTrainedModel):
    pass


class TFMistralForSequenceClassification(TFDecoderForSequenceClassification, TFMistralPreTrainedModel):
    pass


class TFQwen2PreTrainedModel(TFDecoderPreTrainedModel):
    config_class = Qwen2Config


class TFQwen2Model(TFDecoderModel, TFQwen2PreTrainedModel):
    pass


class TFQwen2ForCausalLM(TFDecoderForCausalLM, TFQwen2PreTrainedModel):
    pass


class TFQwen2ForSequenceClassification(TFDecoderForSequenceClassification, TFQwen2PreTrainedModel):
    pass


class TFGemmaPreTrainedModel(TFDecoderPreTrainedModel):
    config_class = GemmaConfig


class TFGemmaModel(TFDecoderModel, TFGemmaPreTrainedModel):
    pass


class TFGemmaForCausalLM(TFDecoderForCausalLM, TFGemmaPreTrainedModel):
    pass


class TFGemmaForSequenceClassification(TFDecoderForSequenceClassification, TFGemmaPreTrainedModel):
    pass


#: the Llama family's classes by model_type: (bare, causal LM, sequence classification)
DECODER_CLASSES = {
    "llama": (TFLlamaModel, TFLlamaForCausalLM, TFLlamaForSequenceClassification),
    "mistral": (TFMistralModel, TFMistralForCausalLM, TFMistralForSequenceClassification),
    "qwen2": (TFQwen2Model, TFQwen2ForCausalLM, TFQwen2ForSequenceClassification),
    "gemma": (TFGemmaModel, TFGemmaForCausalLM, TFGemmaForSequenceClassification),
}
