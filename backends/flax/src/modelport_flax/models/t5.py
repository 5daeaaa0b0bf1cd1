"""T5 in Flax linen with transformers 4.x's parameter tree (``shared/embedding``, ``encoder/block/<i>/layer/<j>/
SelfAttention/q``, ``decoder/block/<i>/layer/1/EncDecAttention``, ``lm_head``), outputs, and, as modelport's
addition, ``labels=`` (shifted into ``decoder_input_ids``) with the loss. The whole decoder runs on every call (no
cache here yet)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from modelport import T5Config
from modelport.errors import ConfigError
from modelport.models.t5 import BucketOps, relative_position_buckets, shift_tokens

from ..generation import FlaxSeq2SeqGenerationMixin, write_cache
from ..losses import MaskedLMLoss
from ..modeling import FlaxPreTrainedModel, ModelOutput, activation

__all__ = ["T5_CLASSES", "FlaxT5Model", "FlaxT5ForConditionalGeneration", "FlaxT5EncoderModel", "FlaxT5PreTrainedModel"]

JAX_BUCKET_OPS = BucketOps(abs=jnp.abs, log=jnp.log, minimum=jnp.minimum, maximum=jnp.maximum, where=jnp.where,
                           to_float32=lambda x: x.astype(jnp.float32), to_int=lambda x: jnp.asarray(x).astype(jnp.int32))
SEQ2SEQ_FIELDS = ("decoder_hidden_states", "decoder_attentions", "cross_attentions", "encoder_hidden_states",
                  "encoder_attentions")


def _linear(units: int, config: T5Config, dtype: Any, width: int) -> nn.Dense:
    init = jax.nn.initializers.normal(config.initializer_factor * width ** -0.5)
    return nn.Dense(units, use_bias=False, dtype=dtype, kernel_init=init)


class FlaxT5LayerNorm(nn.Module):
    """RMS norm without bias or mean, in float32 (``weight`` only)."""

    width: int
    eps: float
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.weight = self.param("weight", jax.nn.initializers.ones, (self.width,))

    def __call__(self, hidden):
        x = hidden.astype(jnp.float32)
        x = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + self.eps)
        return self.weight.astype(self.dtype) * x.astype(self.dtype)


class FlaxT5DenseReluDense(nn.Module):
    config: T5Config
    dtype: Any = jnp.float32

    def setup(self) -> None:
        c = self.config
        if c.is_gated_act:
            self.wi_0 = _linear(c.d_ff, c, self.dtype, c.d_model)
            self.wi_1 = _linear(c.d_ff, c, self.dtype, c.d_model)
        else:
            self.wi = _linear(c.d_ff, c, self.dtype, c.d_model)
        self.wo = _linear(c.d_model, c, self.dtype, c.d_ff)
        self.dropout = nn.Dropout(rate=c.dropout_rate)

    def __call__(self, hidden, deterministic: bool = True):
        act = activation(self.config.dense_act_fn)
        inner = act(self.wi_0(hidden)) * self.wi_1(hidden) if self.config.is_gated_act else act(self.wi(hidden))
        return self.wo(self.dropout(inner, deterministic=deterministic))


class FlaxT5LayerFF(nn.Module):
    config: T5Config
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.DenseReluDense = FlaxT5DenseReluDense(self.config, dtype=self.dtype)
        self.layer_norm = FlaxT5LayerNorm(self.config.d_model, self.config.layer_norm_epsilon, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.dropout_rate)

    def __call__(self, hidden, deterministic: bool = True):
        out = self.DenseReluDense(self.layer_norm(hidden), deterministic)
        return hidden + self.dropout(out, deterministic=deterministic)


class FlaxT5Attention(nn.Module):
    """Multi-head attention with no scaling and no biases; a stack's first layer also learns the relative-position
    bias (``relative_attention_bias``)."""

    config: T5Config
    has_relative_attention_bias: bool = False
    is_decoder: bool = False
    dtype: Any = jnp.float32

    def setup(self) -> None:
        c = self.config
        inner = c.num_heads * c.d_kv
        self.q = _linear(inner, c, self.dtype, c.d_model)
        self.k = _linear(inner, c, self.dtype, c.d_model)
        self.v = _linear(inner, c, self.dtype, c.d_model)
        self.o = _linear(c.d_model, c, self.dtype, inner)
        self.dropout = nn.Dropout(rate=c.dropout_rate)
        if self.has_relative_attention_bias:
            self.relative_attention_bias = nn.Embed(c.relative_attention_num_buckets, c.num_heads, dtype=self.dtype,
                                                    embedding_init=jax.nn.initializers.normal(c.initializer_factor))

    def position_bias(self, queries: int, keys: int):
        """``[1, heads, queries, keys]`` learned bias, queries being the last ``queries`` of ``keys`` positions."""
        return self.bias_for(jnp.arange(keys)[None, :] - jnp.arange(keys - queries, keys)[:, None])

    def bias_for(self, relative):
        """``[1, heads, queries, keys]`` learned bias of ``relative`` positions (``key - query``)."""
        c = self.config
        buckets = relative_position_buckets(relative, not self.is_decoder, c.relative_attention_num_buckets,
                                            c.relative_attention_max_distance, JAX_BUCKET_OPS)
        return jnp.transpose(self.relative_attention_bias(buckets), (2, 0, 1))[None]

    def keys_values(self, source):
        """``{"key", "value"}`` of ``source``, ``[batch, positions, heads, head_dim]`` (the cache's layout)."""
        c = self.config
        split = lambda x: x.reshape(x.shape[0], -1, c.num_heads, c.d_kv)  # noqa: E731
        return {"key": split(self.k(source)), "value": split(self.v(source))}

    def attend(self, hidden, bias, keys_values, deterministic: bool = True):
        """Attention of ``hidden``'s queries over ``keys_values``: the output and the attention probabilities."""
        c = self.config
        q = self.q(hidden).reshape(hidden.shape[0], -1, c.num_heads, c.d_kv)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, keys_values["key"].astype(self.dtype)) + bias
        probs = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(self.dtype)
        context = jnp.einsum("bhqk,bkhd->bqhd", self.dropout(probs, deterministic=deterministic),
                             keys_values["value"].astype(self.dtype))
        return self.o(context.reshape(context.shape[0], -1, c.num_heads * c.d_kv)), probs

    def attend_cached(self, hidden, bias, keys_values, write_at=None):
        """:meth:`attend` over cached keys and values; with ``write_at``, ``hidden``'s own keys and values are written
        into the cache there first (self-attention during generation). Returns the output and the cache."""
        if write_at is not None:
            new = self.keys_values(hidden)
            _, _, keys_values = write_cache(keys_values, new["key"], new["value"], write_at)
        return self.attend(hidden, bias, keys_values)[0], keys_values

    def __call__(self, hidden, bias, key_value_states=None, deterministic: bool = True):
        return self.attend(hidden, bias, self.keys_values(hidden if key_value_states is None else key_value_states),
                           deterministic)


class FlaxT5LayerSelfAttention(nn.Module):
    config: T5Config
    has_relative_attention_bias: bool = False
    is_decoder: bool = False
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.SelfAttention = FlaxT5Attention(self.config, self.has_relative_attention_bias, self.is_decoder, dtype=self.dtype)
        self.layer_norm = FlaxT5LayerNorm(self.config.d_model, self.config.layer_norm_epsilon, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.dropout_rate)

    def __call__(self, hidden, bias, deterministic: bool = True):
        out, probs = self.SelfAttention(self.layer_norm(hidden), bias, deterministic=deterministic)
        return hidden + self.dropout(out, deterministic=deterministic), probs

    def step(self, hidden, bias, cache, index):
        out, cache = self.SelfAttention.attend_cached(self.layer_norm(hidden), bias, cache, write_at=index)
        return hidden + out, cache


class FlaxT5LayerCrossAttention(nn.Module):
    config: T5Config
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.EncDecAttention = FlaxT5Attention(self.config, False, True, dtype=self.dtype)
        self.layer_norm = FlaxT5LayerNorm(self.config.d_model, self.config.layer_norm_epsilon, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.dropout_rate)

    def __call__(self, hidden, encoded, bias, deterministic: bool = True):
        out, probs = self.EncDecAttention(self.layer_norm(hidden), bias, encoded, deterministic)
        return hidden + self.dropout(out, deterministic=deterministic), probs

    def step(self, hidden, bias, keys_values):
        return hidden + self.EncDecAttention.attend_cached(self.layer_norm(hidden), bias, keys_values)[0]


class FlaxT5BlockLayers(nn.Module):
    """A block's sub-layers as the list ``layer/<j>``: self-attention, cross-attention (decoder), feed-forward."""

    config: T5Config
    has_relative_attention_bias: bool = False
    is_decoder: bool = False
    dtype: Any = jnp.float32

    def setup(self) -> None:
        layers: list[nn.Module] = [FlaxT5LayerSelfAttention(self.config, self.has_relative_attention_bias, self.is_decoder,
                                                            dtype=self.dtype, name="0")]
        if self.is_decoder:
            layers.append(FlaxT5LayerCrossAttention(self.config, dtype=self.dtype, name="1"))
        layers.append(FlaxT5LayerFF(self.config, dtype=self.dtype, name=str(len(layers))))
        self.layers = layers

    def __call__(self, hidden, bias, encoded=None, cross_bias=None, deterministic: bool = True):
        hidden, probs = self.layers[0](hidden, bias, deterministic)
        cross = None
        if self.is_decoder and encoded is not None:
            hidden, cross = self.layers[1](hidden, encoded, cross_bias, deterministic)
        return self.layers[-1](hidden, deterministic), probs, cross

    def position_bias(self, queries: int, keys: int):
        return self.layers[0].SelfAttention.position_bias(queries, keys)

    def bias_for(self, relative):
        return self.layers[0].SelfAttention.bias_for(relative)

    def step(self, hidden, bias, cache, cross, cross_bias, index):
        """One generation step of a decoder block: cached self-attention, cross-attention on the encoder's cached keys
        and values, feed-forward."""
        hidden, cache = self.layers[0].step(hidden, bias, cache, index)
        hidden = self.layers[1].step(hidden, cross_bias, cross)
        return self.layers[-1](hidden), cache

    def cross_keys_values(self, encoded):
        return self.layers[1].EncDecAttention.keys_values(encoded)


class FlaxT5Block(nn.Module):
    config: T5Config
    has_relative_attention_bias: bool = False
    is_decoder: bool = False
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.layer = FlaxT5BlockLayers(self.config, self.has_relative_attention_bias, self.is_decoder, dtype=self.dtype)

    def __call__(self, hidden, bias, encoded=None, cross_bias=None, deterministic: bool = True):
        return self.layer(hidden, bias, encoded, cross_bias, deterministic)

    def step(self, hidden, bias, cache, cross, cross_bias, index):
        return self.layer.step(hidden, bias, cache, cross, cross_bias, index)

    def cross_keys_values(self, encoded):
        return self.layer.cross_keys_values(encoded)


class FlaxT5Blocks(nn.Module):
    """The stack's blocks as the list ``block/<i>``; the first one's relative bias serves them all."""

    config: T5Config
    is_decoder: bool = False
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        depth = self.config.num_decoder_layers if self.is_decoder else self.config.num_layers
        block = nn.remat(FlaxT5Block, static_argnums=(5,)) if self.gradient_checkpointing else FlaxT5Block
        self.blocks = [block(self.config, i == 0, self.is_decoder, dtype=self.dtype, name=str(i)) for i in range(depth)]

    def __call__(self, hidden, bias, encoded=None, cross_bias=None, deterministic: bool = True):
        states, attentions, cross_attentions = [], [], []
        for block in self.blocks:
            states.append(hidden)
            hidden, probs, cross = block(hidden, bias, encoded, cross_bias, deterministic)
            attentions.append(probs)
            if cross is not None:
                cross_attentions.append(cross)
        return hidden, states, attentions, cross_attentions

    def position_bias(self, queries: int, keys: int):
        return self.blocks[0].layer.position_bias(queries, keys)

    def step(self, hidden, cache, cross, index):
        """One generation step of the decoder's blocks over the tokens at ``index..``: the bias covers every cache
        position, the ones not written yet masked."""
        width, total = hidden.shape[1], cache[0]["key"].shape[1]
        queries = index + jnp.arange(width)
        relative = jnp.arange(total)[None, :] - queries[:, None]
        bias = self.blocks[0].layer.bias_for(relative).astype(hidden.dtype) + _additive(relative <= 0, hidden.dtype)
        caches = []
        for block, layer_cache, layer_cross in zip(self.blocks, cache, cross["layers"]):
            hidden, layer_cache = block.step(hidden, bias, layer_cache, layer_cross, cross["bias"], index)
            caches.append(layer_cache)
        return hidden, tuple(caches)

    def cross_keys_values(self, encoded):
        return tuple(block.cross_keys_values(encoded) for block in self.blocks)


def _additive(allowed, dtype):
    return jnp.where(allowed, 0.0, jnp.finfo(dtype).min).astype(dtype)


class FlaxT5Stack(nn.Module):
    """The encoder or the decoder (on embedded ids): blocks, final norm, dropout."""

    config: T5Config
    is_decoder: bool = False
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.block = FlaxT5Blocks(self.config, self.is_decoder, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        self.final_layer_norm = FlaxT5LayerNorm(self.config.d_model, self.config.layer_norm_epsilon, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.dropout_rate)

    def __call__(self, embedded, attention_mask=None, encoded=None, encoder_attention_mask=None, deterministic: bool = True):
        batch, length = embedded.shape[:2]
        allowed = jnp.ones((batch, 1, 1, length), bool) if attention_mask is None else (attention_mask > 0)[:, None, None, :]
        if self.is_decoder:
            allowed = allowed & (jnp.arange(length)[None, :] <= jnp.arange(length)[:, None])
        bias = self.block.position_bias(length, length).astype(self.dtype) + _additive(allowed, self.dtype)
        cross_bias = None
        if self.is_decoder and encoded is not None:
            mask = jnp.ones(encoded.shape[:2], bool) if encoder_attention_mask is None else encoder_attention_mask > 0
            cross_bias = _additive(mask[:, None, None, :], self.dtype)
        hidden = self.dropout(embedded, deterministic=deterministic)
        hidden, states, attentions, cross = self.block(hidden, bias, encoded, cross_bias, deterministic)
        hidden = self.dropout(self.final_layer_norm(hidden), deterministic=deterministic)
        return hidden, (*states, hidden), tuple(attentions), tuple(cross)

    def step(self, embedded, cache, cross, index):
        hidden, cache = self.block.step(embedded, cache, cross, index)
        return self.final_layer_norm(hidden), cache


class FlaxT5Module(nn.Module):
    """``shared``, ``encoder``, and (``has_decoder``) ``decoder`` and the output layer (``lm_head`` when untied)."""

    config: T5Config
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False
    has_decoder: bool = True
    has_lm_head: bool = False

    def setup(self) -> None:
        c = self.config
        self.shared = nn.Embed(c.vocab_size, c.d_model, dtype=self.dtype,
                               embedding_init=jax.nn.initializers.normal(c.initializer_factor))
        self.encoder = FlaxT5Stack(c, False, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        if self.has_decoder:
            self.decoder = FlaxT5Stack(c, True, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        if self.has_lm_head and not c.tie_word_embeddings:
            self.lm_head = _linear(c.vocab_size, c, self.dtype, c.d_model)

    def __call__(self, input_ids, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                 deterministic: bool = True, output_hidden_states: bool = False, output_attentions: bool = False):
        encoded, encoder_states, encoder_attentions, _ = self.encoder(self.shared(input_ids.astype("i4")), attention_mask,
                                                                      deterministic=deterministic)
        encoder_out = {"encoder_hidden_states": encoder_states if output_hidden_states else None,
                       "encoder_attentions": encoder_attentions if output_attentions else None}
        if not self.has_decoder:
            return {"last_hidden_state": encoded, "hidden_states": encoder_out["encoder_hidden_states"],
                    "attentions": encoder_out["encoder_attentions"]}
        last, states, attentions, cross = self.decoder(self.shared(decoder_input_ids.astype("i4")), decoder_attention_mask,
                                                       encoded, attention_mask, deterministic)
        first: dict[str, Any] = {"last_hidden_state": last}
        if self.has_lm_head:
            if self.config.tie_word_embeddings:  # v1.0: scaled onto the tied embeddings
                first = {"logits": (last * self.config.d_model ** -0.5) @ self.shared.embedding.T.astype(self.dtype)}
            else:
                first = {"logits": self.lm_head(last)}
        return {**first, "decoder_hidden_states": states if output_hidden_states else None,
                "decoder_attentions": attentions if output_attentions else None,
                "cross_attentions": cross if output_attentions else None, "encoder_last_hidden_state": encoded, **encoder_out}


    def encode_for_generation(self, input_ids, attention_mask):
        """What every generation step needs from the encoder: each decoder layer's cross-attention keys and values,
        and the encoder mask's additive bias."""
        encoded = self.encoder(self.shared(input_ids.astype("i4")), attention_mask)[0]
        return {"layers": self.decoder.block.cross_keys_values(encoded),
                "bias": _additive((attention_mask > 0)[:, None, None, :], self.dtype)}

    def decode_step(self, tokens, cache, index):
        """The next token's logits after ``tokens`` (written at ``index`` of the self-attention cache) and the cache."""
        hidden, self_cache = self.decoder.step(self.shared(tokens.astype("i4")), cache["self"], cache["cross"], index)
        last = hidden[:, -1]
        if self.config.tie_word_embeddings:
            logits = (last * self.config.d_model ** -0.5) @ self.shared.embedding.T.astype(self.dtype)
        else:
            logits = self.lm_head(last)
        return logits, {"self": self_cache, "cross": cache["cross"]}


class FlaxT5PreTrainedModel(FlaxPreTrainedModel):
    config_class = T5Config
    base_model_prefix = "transformer"
    module_kwargs: dict[str, bool] = {}

    def __init__(self, config: T5Config, module: nn.Module | None = None, *args: Any, dtype: Any = jnp.float32,
                 gradient_checkpointing: bool = False, **kwargs: Any) -> None:
        module = module or FlaxT5Module(config, dtype=dtype, gradient_checkpointing=gradient_checkpointing, **self.module_kwargs)
        super().__init__(config, module, *args, dtype=dtype, **kwargs)

    def enable_gradient_checkpointing(self) -> None:
        self.module = FlaxT5Module(self.config, dtype=self.dtype, gradient_checkpointing=True, **self.module_kwargs)

    def dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        ids = jnp.zeros(input_shape, dtype="i4")
        return {"input_ids": ids, "decoder_input_ids": ids} if self.module_kwargs.get("has_decoder", True) else {"input_ids": ids}

    def shift_right(self, labels: Any) -> Any:
        """``decoder_input_ids`` from ``labels``: the start token first, labels one step right, -100 as padding."""
        start, pad = shift_tokens(self.config)
        labels = jnp.asarray(labels)
        shifted = jnp.concatenate([jnp.full((labels.shape[0], 1), start, labels.dtype), labels[:, :-1]], axis=1)
        return jnp.where(shifted == -100, pad, shifted)

    def _run(self, input_ids: Any, attention_mask: Any = None, decoder_input_ids: Any = None,
             decoder_attention_mask: Any = None, params: dict | None = None, dropout_rng: Any = None, train: bool = False,
             output_hidden_states: bool = False, output_attentions: bool = False, **labels: Any) -> ModelOutput:
        labels = self._given_labels(labels)
        if labels and decoder_input_ids is None:
            decoder_input_ids = self.shift_right(labels["labels"])
        if self.module_kwargs.get("has_decoder", True) and decoder_input_ids is None:
            raise ConfigError("T5's decoder needs its inputs", where=type(self).__name__, expected="decoder_input_ids or labels",
                              received=None, fix="Pass decoder_input_ids=, or labels= to have them shifted right.")
        rngs = {"dropout": dropout_rng} if dropout_rng is not None else {}
        decoder_input_ids = None if decoder_input_ids is None else jnp.asarray(decoder_input_ids)
        out = self.module.apply({"params": params if params is not None else self.params}, jnp.asarray(input_ids),
                                None if attention_mask is None else jnp.asarray(attention_mask), decoder_input_ids,
                                None if decoder_attention_mask is None else jnp.asarray(decoder_attention_mask),
                                not train, output_hidden_states, output_attentions, rngs=rngs)
        out = ModelOutput(out)
        if not labels:
            return out
        return ModelOutput({"loss": self.compute_loss(out, None, **labels), **out})


class FlaxT5EncoderModel(FlaxT5PreTrainedModel):
    """The encoder alone: ``last_hidden_state``."""

    module_kwargs = {"has_decoder": False}


class FlaxT5Model(FlaxT5PreTrainedModel):
    """Encoder and decoder: the decoder's ``last_hidden_state`` and the encoder's."""


class FlaxT5ForConditionalGeneration(MaskedLMLoss, FlaxSeq2SeqGenerationMixin, FlaxT5PreTrainedModel):
    """T5 with its language-model head; ``labels=`` (modelport's addition) makes ``decoder_input_ids`` and the loss;
    ``generate()`` runs the encoder once and the decoder a token a step in one compiled loop."""

    module_kwargs = {"has_lm_head": True}

    def cache_layout(self) -> tuple[int, int, int]:
        return self.config.num_decoder_layers, self.config.num_heads, self.config.d_kv


#: T5's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
T5_CLASSES = {cls.__name__.removeprefix("Flax"): cls for cls in (FlaxT5Model, FlaxT5ForConditionalGeneration, FlaxT5EncoderModel)}
