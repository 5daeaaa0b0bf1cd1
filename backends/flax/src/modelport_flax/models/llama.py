"""The Llama-family decoder in Flax linen, with transformers 4.x's parameter tree and outputs.

One implementation serves Llama, Mistral, Qwen2 and Gemma: their differences
come from the core's :mod:`modelport.models.decoders`, the rotary frequencies
from :func:`modelport.models.rope.rope_parameters`. Parameter paths are those
of transformers' Flax Llama (``model/layers/0/self_attn/q_proj/kernel``,
``model/norm/weight``, ``lm_head/kernel``); a tied model has no ``lm_head``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from modelport import GemmaConfig, LlamaConfig, MistralConfig, PretrainedConfig, Qwen2Config
from modelport.models.decoders import decoder_facts
from modelport.models.rope import ROPE_SCALINGS, rope_parameters, rope_type

from ..generation import FlaxGenerationMixin, write_cache
from ..losses import SequenceClassificationLoss
from ..modeling import FlaxPreTrainedModel, activation

__all__ = ["FlaxDecoderModule", "FlaxDecoderForCausalLMModule", "FlaxDecoderForSequenceClassificationModule", "decoder_mask",
           "rotary_tables", "DECODER_CLASSES"] + [f"Flax{family}{kind}" for family in ("Llama", "Mistral", "Qwen2", "Gemma")
                                                  for kind in ("Model", "ForCausalLM", "ForSequenceClassification")]


class FlaxRMSNorm(nn.Module):
    """RMS norm in float32; the scale is ``offset + weight`` (Gemma: offset 1, weight from 0)."""

    size: int
    eps: float
    offset: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        init = jax.nn.initializers.zeros if self.offset else jax.nn.initializers.ones
        weight = self.param("weight", init, (self.size,))
        variance = jnp.mean(jnp.square(x.astype(jnp.float32)), axis=-1, keepdims=True)
        normed = x.astype(jnp.float32) * jax.lax.rsqrt(variance + self.eps)
        if self.offset:
            return (normed * (self.offset + weight.astype(jnp.float32))).astype(self.dtype)
        return weight.astype(self.dtype) * normed.astype(self.dtype)


def rotary_tables(config: PretrainedConfig, position_ids: Any, length: int, dtype: Any) -> tuple[Any, Any]:
    """cos and sin ``[batch or 1, seq, head_dim]`` in float32 from the core's frequencies, then cast to ``dtype``.

    Without ``position_ids`` (positions ``0..length-1``) the tables are
    computed on the host when the call is traced and enter the graph as
    constants. Computed in the graph instead, XLA fuses cos and sin into each
    layer's rotation, once per head: 1.15x the whole forward's time on CPU
    (docs/development.md, session 9). Given ``position_ids``, they are
    computed in the graph; dynamic scaling then asks the core for its
    frequencies on the host (``jax.pure_callback``), so jitted calls work.
    """
    if position_ids is None:
        inv_freq, scaling = rope_parameters(config, length)
        cos, sin = _cos_sin(np, np.arange(length, dtype=np.float32)[None], inv_freq, scaling)
        return jnp.asarray(cos, dtype=dtype), jnp.asarray(sin, dtype=dtype)
    inv_freq, scaling = rope_parameters(config)
    frequencies: Any = jnp.asarray(inv_freq)
    if ROPE_SCALINGS[rope_type(config)].grows_with_length:
        def for_length(longest: Any) -> np.ndarray:
            return rope_parameters(config, int(longest))[0]

        frequencies = jax.pure_callback(for_length, jax.ShapeDtypeStruct(inv_freq.shape, jnp.float32), jnp.max(position_ids) + 1)
    cos, sin = _cos_sin(jnp, position_ids.astype(jnp.float32), frequencies, scaling)
    return cos.astype(dtype), sin.astype(dtype)


def _cos_sin(xp: Any, positions: Any, frequencies: Any, scaling: float) -> tuple[Any, Any]:
    """float32 cos and sin of each position times each frequency (both halves of a head), by numpy or jax.numpy."""
    freqs = positions[..., None] * frequencies
    angles = xp.concatenate([freqs, freqs], axis=-1)
    return xp.cos(angles) * xp.float32(scaling), xp.sin(angles) * xp.float32(scaling)


def _rotate_half(x):
    first, second = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-second, first], axis=-1)


def decoder_mask(attention_mask: Any, length: int, window: int | None, keys: int | None = None, offset: Any = 0) -> Any:
    """``[batch, 1, q, k]`` booleans for ``length`` queries from position ``offset`` over ``keys`` keys (a cache's
    size; default ``length``): causal, within ``window`` when set, not padding (``attention_mask`` covers the keys);
    a row with nothing allowed (a left-padding position, never read later) allows everything rather than giving NaN."""
    q = jnp.arange(length)[:, None] + offset
    k = jnp.arange(length if keys is None else keys)[None, :]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (k > q - window)
    allowed = allowed[None, None] & (attention_mask[:, None, None, :] > 0)
    return allowed | ~jnp.any(allowed, axis=-1, keepdims=True)


def _use_fused_attention(queries: int) -> bool:
    """Whether ``jax.nn.dot_product_attention`` beats the explicit computation below for ``queries`` queries a row.

    On GPUs it has a fused kernel (cuDNN). Elsewhere it composes XLA ops in a
    grouped ``(kv heads, groups)`` layout that costs transposes: on CPU, 12
    layers of 8 x 128 tokens took 205 ms that way and 92 ms with the explicit
    computation (docs/development.md, session 9). With one query a row (a
    decoding step over a cache) those transposes are tiny and the grouped
    layout saves repeating the cached keys and values for every query head:
    greedy decoding of 128 tokens at batch 8 took 4.0-4.5 s that way against
    5.3-6.0 s explicitly (docs/development.md, session 13).
    """
    return queries == 1 or jax.default_backend() == "gpu"


def _explicit_attention(q, k, v, mask, groups: int, scale: float, dtype: Any) -> tuple[Any, Any]:
    """Softmax attention with the maps (``[batch, heads, q, k]``), key/value heads repeated for grouped queries."""
    k, v = jnp.repeat(k, groups, axis=2), jnp.repeat(v, groups, axis=2)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * scale
    scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
    weights = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v), weights


def _dense(features: int, bias: bool, config: PretrainedConfig, dtype: Any, name: str) -> nn.Dense:
    return nn.Dense(features, use_bias=bias, dtype=dtype, name=name,
                    kernel_init=jax.nn.initializers.normal(config.initializer_range))


class FlaxDecoderAttention(nn.Module):
    config: PretrainedConfig
    layer: int
    dtype: Any = jnp.float32

    def setup(self) -> None:
        facts, c = decoder_facts(self.config), self.config
        self.head_dim = facts.head_dim(c)
        self.window = facts.sliding_window(c, self.layer)
        qkv_bias = facts.qkv_bias(c)
        self.q_proj = _dense(c.num_attention_heads * self.head_dim, qkv_bias, c, self.dtype, "q_proj")
        self.k_proj = _dense(c.num_key_value_heads * self.head_dim, qkv_bias, c, self.dtype, "k_proj")
        self.v_proj = _dense(c.num_key_value_heads * self.head_dim, qkv_bias, c, self.dtype, "v_proj")
        self.o_proj = _dense(c.hidden_size, facts.output_bias(c), c, self.dtype, "o_proj")

    def __call__(self, hidden, cos, sin, attention_mask, deterministic: bool = True, output_attentions: bool = False,
                 cache: Any = None, cache_index: Any = None):
        c = self.config
        b, s = hidden.shape[:2]
        q = self.q_proj(hidden).reshape(b, s, c.num_attention_heads, self.head_dim)
        k = self.k_proj(hidden).reshape(b, s, c.num_key_value_heads, self.head_dim)
        v = self.v_proj(hidden).reshape(b, s, c.num_key_value_heads, self.head_dim)
        q = q * cos[:, :, None] + _rotate_half(q) * sin[:, :, None]
        k = k * cos[:, :, None] + _rotate_half(k) * sin[:, :, None]
        if cache is not None:  # a fixed-size cache: these positions are written at cache_index, every key is attended
            k, v, cache = write_cache(cache, k, v, cache_index)
            mask = decoder_mask(attention_mask, s, self.window, k.shape[1], cache_index)
        else:
            mask = decoder_mask(attention_mask, s, self.window)
        groups = c.num_attention_heads // c.num_key_value_heads
        if output_attentions or not _use_fused_attention(s):
            out, weights = _explicit_attention(q, k, v, mask, groups, self.head_dim**-0.5, self.dtype)
            weights = weights if output_attentions else None
        else:  # grouped key/value heads, no copies: cuDNN's fused kernel, or one query a row
            out, weights = jax.nn.dot_product_attention(q, k, v, mask=mask, scale=self.head_dim**-0.5), None
        return self.o_proj(out.reshape(b, s, c.num_attention_heads * self.head_dim)), weights, cache


class FlaxDecoderMLP(nn.Module):
    config: PretrainedConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        c, bias = self.config, decoder_facts(self.config).mlp_bias(self.config)
        self.gate_proj = _dense(c.intermediate_size, bias, c, self.dtype, "gate_proj")
        self.up_proj = _dense(c.intermediate_size, bias, c, self.dtype, "up_proj")
        self.down_proj = _dense(c.hidden_size, bias, c, self.dtype, "down_proj")

    def __call__(self, x):
        return self.down_proj(activation(self.config.hidden_act)(self.gate_proj(x)) * self.up_proj(x))


class FlaxDecoderLayer(nn.Module):
    config: PretrainedConfig
    layer: int
    dtype: Any = jnp.float32

    def setup(self) -> None:
        c, offset = self.config, decoder_facts(self.config).norm_offset
        self.input_layernorm = FlaxRMSNorm(c.hidden_size, c.rms_norm_eps, offset, self.dtype)
        self.self_attn = FlaxDecoderAttention(c, self.layer, dtype=self.dtype)
        self.post_attention_layernorm = FlaxRMSNorm(c.hidden_size, c.rms_norm_eps, offset, self.dtype)
        self.mlp = FlaxDecoderMLP(c, dtype=self.dtype)

    def __call__(self, hidden, cos, sin, attention_mask, deterministic: bool = True, output_attentions: bool = False,
                 cache: Any = None, cache_index: Any = None):
        attended, weights, cache = self.self_attn(self.input_layernorm(hidden), cos, sin, attention_mask, deterministic,
                                                  output_attentions, cache, cache_index)
        hidden = hidden + attended
        return hidden + self.mlp(self.post_attention_layernorm(hidden)), weights, cache


class FlaxDecoderLayerCollection(nn.Module):
    config: PretrainedConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        layer = nn.remat(FlaxDecoderLayer, static_argnums=(5, 6)) if self.gradient_checkpointing else FlaxDecoderLayer
        self.blocks = [layer(self.config, i, dtype=self.dtype, name=str(i)) for i in range(self.config.num_hidden_layers)]

    def __call__(self, hidden, cos, sin, attention_mask, deterministic: bool = True, output_attentions: bool = False,
                 cache: Any = None, cache_index: Any = None):
        states, attentions, caches = [hidden], [], []
        for index, block in enumerate(self.blocks):
            hidden, weights, layer_cache = block(hidden, cos, sin, attention_mask, deterministic, output_attentions,
                                                 None if cache is None else cache[index], cache_index)
            states.append(hidden)
            attentions.append(weights)
            caches.append(layer_cache)
        return hidden, states, tuple(attentions), (None if cache is None else tuple(caches))


class FlaxDecoderModule(nn.Module):
    """The bare decoder (``embed_tokens``, ``layers``, ``norm``): ``last_hidden_state`` after the final norm."""

    config: PretrainedConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        c = self.config
        self.embed_tokens = nn.Embed(c.vocab_size, c.hidden_size, dtype=self.dtype,
                                     embedding_init=jax.nn.initializers.normal(c.initializer_range))
        self.layers = FlaxDecoderLayerCollection(c, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        self.norm = FlaxRMSNorm(c.hidden_size, c.rms_norm_eps, decoder_facts(c).norm_offset, self.dtype)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False, cache: Any = None,
                 cache_index: Any = None):
        """With ``cache`` (per layer, keys and values of a fixed size, :func:`~modelport_flax.generation.init_cache`),
        these positions are written at ``cache_index`` and the updated cache is ``past_key_values``; the attention
        mask then covers the whole cache."""
        hidden = self.embed_tokens(input_ids.astype("i4"))
        if decoder_facts(self.config).scales_embeddings:
            hidden = hidden * jnp.asarray(self.config.hidden_size**0.5, dtype=hidden.dtype)
        if attention_mask is None:
            attention_mask = jnp.ones(input_ids.shape, dtype="i4")
        # without position_ids: 0..s-1 in every row, as transformers' forward (generation derives them from the mask)
        cos, sin = rotary_tables(self.config, position_ids, input_ids.shape[-1], hidden.dtype)
        hidden, states, attentions, cache = self.layers(hidden, cos, sin, attention_mask, deterministic, output_attentions,
                                                        cache, cache_index)
        hidden = self.norm(hidden)
        out = {"last_hidden_state": hidden}
        if cache is not None:
            out["past_key_values"] = cache
        if output_hidden_states:
            out["hidden_states"] = (*states[:-1], hidden)  # the last one after the final norm, as transformers reports it
        if output_attentions:
            out["attentions"] = attentions
        return out


class FlaxDecoderForCausalLMModule(nn.Module):
    config: PretrainedConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.model = FlaxDecoderModule(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        if not self.config.tie_word_embeddings:  # tied: the head is the embedding table (no lm_head parameter)
            self.lm_head = _dense(self.config.vocab_size, False, self.config, self.dtype, "lm_head")

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False, cache: Any = None,
                 cache_index: Any = None, logits_to_keep: int = 0):
        out = self.model(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_hidden_states,
                         output_attentions, cache, cache_index)
        hidden = out.pop("last_hidden_state")
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        if self.config.tie_word_embeddings:
            logits = hidden @ self.model.variables["params"]["embed_tokens"]["embedding"].T.astype(self.dtype)
        else:
            logits = self.lm_head(hidden)
        # transformers' fields first; last_hidden_state is modelport's addition, after them
        return {"logits": logits, **out, "last_hidden_state": hidden}


class FlaxDecoderForSequenceClassificationModule(nn.Module):
    """A ``score`` head on each row's last token that is not ``pad_token_id`` (the rightmost one)."""

    config: PretrainedConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.model = FlaxDecoderModule(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        self.score = _dense(self.config.num_labels, False, self.config, self.dtype, "score")

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False):
        out = self.model(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_hidden_states,
                         output_attentions)
        logits = self.score(out.pop("last_hidden_state"))
        pad = self.config.pad_token_id
        if pad is None:
            last = jnp.full(input_ids.shape[:1], input_ids.shape[-1] - 1)
        else:
            last = jnp.argmax(jnp.arange(input_ids.shape[-1]) * (input_ids != pad).astype("i4"), axis=-1)
        return {"logits": logits[jnp.arange(logits.shape[0]), last], **out}


class FlaxDecoderPreTrainedModel(FlaxPreTrainedModel):
    base_model_prefix = "model"

    def cache_layout(self) -> tuple[int, int, int]:
        c = self.config
        return c.num_hidden_layers, c.num_key_value_heads, decoder_facts(c).head_dim(c)

    def dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        return {"input_ids": jnp.zeros(input_shape, dtype="i4"), "attention_mask": jnp.ones(input_shape, dtype="i4")}


class FlaxLlamaPreTrainedModel(FlaxDecoderPreTrainedModel):
    config_class = LlamaConfig


class FlaxLlamaModel(FlaxLlamaPreTrainedModel):
    module_class = FlaxDecoderModule


class FlaxLlamaForCausalLM(FlaxGenerationMixin, FlaxLlamaPreTrainedModel):
    module_class = FlaxDecoderForCausalLMModule


class FlaxLlamaForSequenceClassification(SequenceClassificationLoss, FlaxLlamaPreTrainedModel):
    module_class = FlaxDecoderForSequenceClassificationModule


class FlaxMistralPreTrainedModel(FlaxDecoderPreTrainedModel):
    config_class = MistralConfig


class FlaxMistralModel(FlaxMistralPreTrainedModel):
    module_class = FlaxDecoderModule


class FlaxMistralForCausalLM(FlaxGenerationMixin, FlaxMistralPreTrainedModel):
    module_class = FlaxDecoderForCausalLMModule


class FlaxMistralForSequenceClassification(SequenceClassificationLoss, FlaxMistralPreTrainedModel):
    module_class = FlaxDecoderForSequenceClassificationModule


class FlaxQwen2PreTrainedModel(FlaxDecoderPreTrainedModel):
    config_class = Qwen2Config


class FlaxQwen2Model(FlaxQwen2PreTrainedModel):
    module_class = FlaxDecoderModule


class FlaxQwen2ForCausalLM(FlaxGenerationMixin, FlaxQwen2PreTrainedModel):
    module_class = FlaxDecoderForCausalLMModule


class FlaxQwen2ForSequenceClassification(SequenceClassificationLoss, FlaxQwen2PreTrainedModel):
    module_class = FlaxDecoderForSequenceClassificationModule


class FlaxGemmaPreTrainedModel(FlaxDecoderPreTrainedModel):
    config_class = GemmaConfig


class FlaxGemmaModel(FlaxGemmaPreTrainedModel):
    module_class = FlaxDecoderModule


class FlaxGemmaForCausalLM(FlaxGenerationMixin, FlaxGemmaPreTrainedModel):
    module_class = FlaxDecoderForCausalLMModule


class FlaxGemmaForSequenceClassification(SequenceClassificationLoss, FlaxGemmaPreTrainedModel):
    module_class = FlaxDecoderForSequenceClassificationModule


#: the Llama family's classes by model_type: (bare, causal LM, sequence classification)
DECODER_CLASSES = {
    "llama": (FlaxLlamaModel, FlaxLlamaForCausalLM, FlaxLlamaForSequenceClassification),
    "mistral": (FlaxMistralModel, FlaxMistralForCausalLM, FlaxMistralForSequenceClassification),
    "qwen2": (FlaxQwen2Model, FlaxQwen2ForCausalLM, FlaxQwen2ForSequenceClassification),
    "gemma": (FlaxGemmaModel, FlaxGemmaForCausalLM, FlaxGemmaForSequenceClassification),
}
