"""GPT-2 in Flax linen with transformers 4.x's parameter tree and outputs."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from modelport import GPT2Config

from ..generation import FlaxGenerationMixin, write_cache
from ..modeling import FlaxPreTrainedModel, activation, attention_bias

__all__ = ["FlaxGPT2Model", "FlaxGPT2LMHeadModel"]


class FlaxConv1D(nn.Module):
    """GPT-2's projection. The kernel is declared (out, in) and transposed at call time, as transformers' Flax GPT-2 does."""

    features: int
    dtype: Any = jnp.float32
    initializer_range: float = 0.02

    @nn.compact
    def __call__(self, inputs):
        kernel = self.param("kernel", jax.nn.initializers.normal(self.initializer_range), (self.features, inputs.shape[-1]))
        bias = self.param("bias", jax.nn.initializers.zeros, (self.features,))
        return inputs.astype(self.dtype) @ kernel.T.astype(self.dtype) + bias.astype(self.dtype)


class FlaxGPT2Attention(nn.Module):
    config: GPT2Config
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.embed_dim = self.config.hidden_size
        self.head_dim = self.embed_dim // self.config.num_attention_heads
        self.c_attn = FlaxConv1D(3 * self.embed_dim, dtype=self.dtype, initializer_range=self.config.initializer_range)
        self.c_proj = FlaxConv1D(self.embed_dim, dtype=self.dtype, initializer_range=self.config.initializer_range)
        self.resid_dropout = nn.Dropout(rate=self.config.resid_pdrop)

    def __call__(self, hidden, mask, deterministic: bool = True, cache: Any = None, cache_index: Any = None):
        q, k, v = jnp.split(self.c_attn(hidden), 3, axis=2)
        heads = lambda x: x.reshape(x.shape[:2] + (self.config.num_attention_heads, self.head_dim))  # noqa: E731
        q, k, v = heads(q), heads(k), heads(v)
        seq = hidden.shape[1]
        if cache is not None:  # a fixed-size cache: these positions are written at cache_index, every key is attended
            k, v, cache = write_cache(cache, k, v, cache_index)
            allowed = (jnp.arange(k.shape[1])[None, :] <= jnp.arange(seq)[:, None] + cache_index)[None, None]
        else:
            allowed = jnp.tril(jnp.ones((seq, seq), dtype=bool))[None, None]
        if mask is not None:
            allowed = allowed & (mask[:, None, None, :] > 0)
        bias = attention_bias(allowed, self.dtype, already_4d=True)
        dropout_rng = None if deterministic or self.config.attn_pdrop == 0 else self.make_rng("dropout")
        weights = nn.dot_product_attention_weights(q, k, bias=bias, dropout_rng=dropout_rng, dropout_rate=self.config.attn_pdrop,
                                                   deterministic=deterministic, dtype=self.dtype)
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v).reshape(hidden.shape[:2] + (self.embed_dim,))
        return self.resid_dropout(self.c_proj(out), deterministic=deterministic), weights, cache


class FlaxGPT2MLP(nn.Module):
    config: GPT2Config
    intermediate_size: int
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.c_fc = FlaxConv1D(self.intermediate_size, dtype=self.dtype, initializer_range=self.config.initializer_range)
        self.c_proj = FlaxConv1D(self.config.hidden_size, dtype=self.dtype, initializer_range=self.config.initializer_range)
        self.dropout = nn.Dropout(rate=self.config.resid_pdrop)

    def __call__(self, hidden, deterministic: bool = True):
        return self.dropout(self.c_proj(activation(self.config.activation_function)(self.c_fc(hidden))), deterministic=deterministic)


class FlaxGPT2Block(nn.Module):
    config: GPT2Config
    dtype: Any = jnp.float32

    def setup(self) -> None:
        inner = self.config.n_inner if self.config.n_inner is not None else 4 * self.config.hidden_size
        self.ln_1 = nn.LayerNorm(epsilon=self.config.layer_norm_epsilon, dtype=self.dtype)
        self.attn = FlaxGPT2Attention(self.config, dtype=self.dtype)
        self.ln_2 = nn.LayerNorm(epsilon=self.config.layer_norm_epsilon, dtype=self.dtype)
        self.mlp = FlaxGPT2MLP(self.config, inner, dtype=self.dtype)

    def __call__(self, hidden, mask, deterministic: bool = True, cache: Any = None, cache_index: Any = None):
        attended, weights, cache = self.attn(self.ln_1(hidden), mask, deterministic, cache, cache_index)
        hidden = hidden + attended
        return hidden + self.mlp(self.ln_2(hidden), deterministic), weights, cache


class FlaxGPT2BlockCollection(nn.Module):
    config: GPT2Config
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        block = nn.remat(FlaxGPT2Block, static_argnums=(3,)) if self.gradient_checkpointing else FlaxGPT2Block
        self.blocks = [block(self.config, name=str(i), dtype=self.dtype) for i in range(self.config.num_hidden_layers)]

    def __call__(self, hidden, mask, deterministic: bool = True, cache: Any = None, cache_index: Any = None):
        states, attentions, caches = [hidden], [], []
        for index, block in enumerate(self.blocks):
            hidden, weights, layer_cache = block(hidden, mask, deterministic, None if cache is None else cache[index], cache_index)
            states.append(hidden)
            attentions.append(weights)
            caches.append(layer_cache)
        return hidden, states, tuple(attentions), (None if cache is None else tuple(caches))


class FlaxGPT2Module(nn.Module):
    config: GPT2Config
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        init = jax.nn.initializers.normal(self.config.initializer_range)
        self.wte = nn.Embed(self.config.vocab_size, self.config.hidden_size, embedding_init=init, dtype=self.dtype)
        self.wpe = nn.Embed(self.config.max_position_embeddings, self.config.hidden_size, embedding_init=init, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.embd_pdrop)
        self.h = FlaxGPT2BlockCollection(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        self.ln_f = nn.LayerNorm(epsilon=self.config.layer_norm_epsilon, dtype=self.dtype)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False, cache: Any = None,
                 cache_index: Any = None):
        """With ``cache`` (per layer, keys and values of a fixed size, :func:`~modelport_flax.generation.init_cache`),
        these positions are written at ``cache_index`` and the updated cache is ``past_key_values``; the attention
        mask then covers the whole cache."""
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(input_ids.shape[-1]), input_ids.shape)
        hidden = self.wte(input_ids.astype("i4")) + self.wpe(position_ids.astype("i4"))
        hidden = self.dropout(hidden, deterministic=deterministic)
        hidden, states, attentions, cache = self.h(hidden, attention_mask, deterministic, cache, cache_index)
        hidden = self.ln_f(hidden)
        states = [*states[:-1], hidden]  # transformers reports the last state after ln_f
        out = {"last_hidden_state": hidden}
        if cache is not None:
            out["past_key_values"] = cache
        if output_hidden_states:
            out["hidden_states"] = tuple(states)
        if output_attentions:
            out["attentions"] = attentions
        return out


class FlaxGPT2LMHeadModule(nn.Module):
    config: GPT2Config
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.transformer = FlaxGPT2Module(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        if not self.config.tie_word_embeddings:  # an untied head of its own (lm_head/kernel)
            self.lm_head = nn.Dense(self.config.vocab_size, use_bias=False, dtype=self.dtype,
                                    kernel_init=jax.nn.initializers.normal(self.config.initializer_range))

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False, cache: Any = None,
                 cache_index: Any = None, logits_to_keep: int = 0):
        out = self.transformer(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_hidden_states,
                               output_attentions, cache, cache_index)
        hidden = out.pop("last_hidden_state")
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        if self.config.tie_word_embeddings:
            logits = hidden @ self.transformer.variables["params"]["wte"]["embedding"].T.astype(self.dtype)
        else:
            logits = self.lm_head(hidden)
        # transformers' fields first; last_hidden_state is modelport's addition, after them
        return {"logits": logits, **out, "last_hidden_state": hidden}


class FlaxGPT2PreTrainedModel(FlaxPreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"

    def cache_layout(self) -> tuple[int, int, int]:
        c = self.config
        return c.num_hidden_layers, c.num_attention_heads, c.hidden_size // c.num_attention_heads

    def dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        return {"input_ids": jnp.zeros(input_shape, dtype="i4"), "attention_mask": jnp.ones(input_shape, dtype="i4")}


class FlaxGPT2Model(FlaxGPT2PreTrainedModel):
    module_class = FlaxGPT2Module


class FlaxGPT2LMHeadModel(FlaxGenerationMixin, FlaxGPT2PreTrainedModel):
    module_class = FlaxGPT2LMHeadModule

