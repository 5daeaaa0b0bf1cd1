"""GPT-2 on Keras 3 with transformers 4.x's TF variable names and outputs."""

from __future__ import annotations

from typing import Any

from modelport import GPT2Config

from .._keras import keras, tf
from ..generation import TFGenerationMixin, write_cache
from ..layers import (
    Conv1D,
    OutputProjection,
    WeightEmbedding,
    activation,
    expand_head_mask,
    layer_norm,
    replace_variable,
    shape_list,
)
from ..modeling import ModelOutput, TFPreTrainedModel, masked_mean_loss
from .bert import stable_softmax

__all__ = ["TFGPT2Model", "TFGPT2LMHeadModel", "TFGPT2MainLayer", "TFGPT2PreTrainedModel"]


class TFGPT2Attention(keras.layers.Layer):
    def __init__(self, config: GPT2Config, layer_idx: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        n = config.n_embd
        self.num_heads = config.n_head
        self.head_dim = n // config.n_head
        self.scale = config.scale_attn_weights
        self.layer_scale = float(layer_idx + 1) if config.scale_attn_by_inverse_layer_idx else 1.0
        self.c_attn = Conv1D(3 * n, n, config.initializer_range, name="c_attn")
        self.c_proj = Conv1D(n, n, config.initializer_range, name="c_proj")
        self.attn_dropout = keras.layers.Dropout(config.attn_pdrop)
        self.resid_dropout = keras.layers.Dropout(config.resid_pdrop)

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False, cache: Any = None,
             cache_index: Any = None) -> Any:
        batch, length = shape_list(hidden)[:2]

        def heads(x: Any) -> Any:
            return tf.transpose(tf.reshape(x, (batch, length, self.num_heads, self.head_dim)), [0, 2, 1, 3])

        q, k, v = (heads(t) for t in tf.split(self.c_attn(hidden), 3, axis=2))
        offset = 0
        if cache is not None:  # a fixed-size cache: these positions are written at cache_index, every key is attended
            k, v, cache = write_cache(cache, k, v, cache_index)
            offset = cache_index
        w = tf.matmul(q, k, transpose_b=True)
        if self.scale:
            w = w / tf.math.sqrt(tf.cast(self.head_dim, w.dtype))
        if self.layer_scale != 1.0:
            w = w / self.layer_scale
        causal = tf.cast(tf.range(length)[:, None] + offset >= tf.range(tf.shape(k)[2])[None, :], w.dtype)[None, None]
        w = w * causal - 1e4 * (1 - causal)  # transformers' TF GPT-2 arithmetic, kept so masked outputs agree
        if attention_bias is not None:
            w = w + attention_bias
        w = self.attn_dropout(stable_softmax(w), training=training)
        if head_mask is not None:
            w = w * head_mask
        out = tf.reshape(tf.transpose(tf.matmul(w, v), [0, 2, 1, 3]), (batch, length, self.num_heads * self.head_dim))
        return self.resid_dropout(self.c_proj(out), training=training), w, cache


class TFGPT2MLP(keras.layers.Layer):
    def __init__(self, config: GPT2Config, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        self.c_fc = Conv1D(inner, config.n_embd, config.initializer_range, name="c_fc")
        self.c_proj = Conv1D(config.n_embd, inner, config.initializer_range, name="c_proj")
        self.act = activation(config.activation_function)
        self.dropout = keras.layers.Dropout(config.resid_pdrop)

    def call(self, hidden: Any, training: bool = False) -> Any:
        return self.dropout(self.c_proj(self.act(self.c_fc(hidden))), training=training)


class TFGPT2Block(keras.layers.Layer):
    def __init__(self, config: GPT2Config, layer_idx: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ln_1 = layer_norm(config.layer_norm_epsilon, "ln_1", config.n_embd)
        self.attn = TFGPT2Attention(config, layer_idx, name="attn")
        self.ln_2 = layer_norm(config.layer_norm_epsilon, "ln_2", config.n_embd)
        self.mlp = TFGPT2MLP(config, name="mlp")

    def call(self, hidden: Any, attention_bias: Any, head_mask: Any, training: bool = False, cache: Any = None,
             cache_index: Any = None) -> Any:
        attended, probs, cache = self.attn(self.ln_1(hidden), attention_bias=attention_bias, head_mask=head_mask,
                                           training=training, cache=cache, cache_index=cache_index)
        hidden = hidden + attended
        return hidden + self.mlp(self.ln_2(hidden), training=training), probs, cache


class TFGPT2MainLayer(keras.layers.Layer):
    """The GPT-2 decoder stack (``transformer/...``), shared by the bare model and the LM head."""

    def __init__(self, config: GPT2Config, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.wte = WeightEmbedding(config.vocab_size, config.n_embd, config.initializer_range, name="wte")
        self.wpe = WeightEmbedding(config.n_positions, config.n_embd, config.initializer_range, name="wpe")
        self.drop = keras.layers.Dropout(config.embd_pdrop)
        self.h = [TFGPT2Block(config, i, name=f"h_._{i}") for i in range(config.n_layer)]
        self.ln_f = layer_norm(config.layer_norm_epsilon, "ln_f", config.n_embd)

    def get_input_embeddings(self) -> WeightEmbedding:
        return self.wte

    def set_input_embeddings(self, value: Any) -> None:
        replace_variable(self.wte, "weight", value)
        self.wte.vocab_size = int(self.wte.weight.shape[0])

    def call(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False,
             training: bool = False, cache: Any = None, cache_index: Any = None) -> ModelOutput:
        """With ``cache`` (per layer, keys and values of a fixed size, :func:`~modelport_tf.generation.init_cache`), these
        positions are written at ``cache_index`` and the updated cache is ``past_key_values``; the attention mask then
        covers the whole cache."""
        batch, length = shape_list(input_ids)[:2]
        if position_ids is None:
            position_ids = tf.range(length)[None, :]
        hidden = self.wte(input_ids) + self.wpe(position_ids)
        if token_type_ids is not None:
            hidden = hidden + self.wte(token_type_ids)
        hidden = self.drop(hidden, training=training)
        bias = None
        if attention_mask is not None:
            bias = tf.cast(attention_mask[:, None, None, :], hidden.dtype)
            bias = (1.0 - bias) * -10000.0
        head_mask = expand_head_mask(head_mask, self.config.n_layer)
        states, attentions, caches = [], [], []
        for i, block in enumerate(self.h):
            states.append(hidden)
            hidden, probs, layer_cache = block(hidden, attention_bias=bias, head_mask=head_mask[i], training=training,
                                               cache=None if cache is None else cache[i], cache_index=cache_index)
            attentions.append(probs)
            caches.append(layer_cache)
        hidden = self.ln_f(hidden)
        states.append(hidden)  # transformers reports the last hidden state after ln_f
        return ModelOutput(last_hidden_state=hidden, past_key_values=None if cache is None else tuple(caches),
                           hidden_states=tuple(states) if output_hidden_states else None,
                           attentions=tuple(attentions) if output_attentions else None)


class TFGPT2PreTrainedModel(TFPreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"


class TFGPT2Model(TFGPT2PreTrainedModel):
    is_base_model = True

    def __init__(self, config: GPT2Config, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.transformer = TFGPT2MainLayer(config, name="transformer")

    def call(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False,
             training: bool = False) -> ModelOutput:
        x = self._unpack(input_ids, dict(attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
                                         head_mask=head_mask))
        return self.transformer(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                                training=training)


class TFGPT2LMHeadModel(TFGenerationMixin, TFGPT2PreTrainedModel):
    def cache_layout(self) -> tuple[int, int, int]:
        c = self.config
        return c.n_layer, c.n_head, c.n_embd // c.n_head

    def generation_step(self, tokens: Any, mask: Any, positions: Any, cache: Any, index: Any) -> tuple[Any, Any]:
        """The float32 logits after ``tokens`` (written at ``index`` of the cache), and the cache."""
        out = self.transformer(tokens, attention_mask=mask, position_ids=positions, cache=cache, cache_index=index)
        hidden = out["last_hidden_state"][:, -1:]
        logits = self.transformer.wte.attend(hidden) if self.lm_head is None else self.lm_head(hidden)
        return tf.cast(logits[:, -1], tf.float32), out["past_key_values"]

    def __init__(self, config: GPT2Config, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.transformer = TFGPT2MainLayer(config, name="transformer")
        # transformers' TF GPT-2 always ties the head; an untied checkpoint needs a head of its own
        self.lm_head = None if config.tie_word_embeddings else OutputProjection(
            config.vocab_size, config.n_embd, config.initializer_range, name="lm_head")

    def get_output_embeddings(self) -> Any:
        return self.get_input_embeddings() if self.lm_head is None else self.lm_head

    def call(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             head_mask: Any = None, output_hidden_states: bool = False, output_attentions: bool = False, labels: Any = None,
             training: bool = False) -> ModelOutput:
        x = self._unpack(input_ids, dict(attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
                                         head_mask=head_mask, labels=labels))
        labels = x.pop("labels", None)
        out = self.transformer(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                               training=training)
        hidden = out["last_hidden_state"]
        logits = self.transformer.wte.attend(hidden) if self.lm_head is None else self.lm_head(hidden)
        loss = masked_mean_loss(labels[:, 1:], logits[:, :-1]) if labels is not None else None
        # last_hidden_state is modelport's addition to transformers' TFCausalLMOutput, after its fields
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions,
                           last_hidden_state=out["last_hidden_state"])
