"""T5 in PyTorch with transformers 4.x's names (``shared``, ``encoder.block.<i>.layer.<j>.SelfAttention.q``,
``decoder.block.<i>.layer.1.EncDecAttention``, ``lm_head``), outputs, label shifting and loss; the decoder caches
its self-attention keys and values per step and the cross-attention ones once."""

from __future__ import annotations

import torch
from torch import nn

from modelport import T5Config
from modelport.models.losses import masked_lm_loss
from modelport.models.t5 import relative_position_buckets, relative_positions, shift_tokens

from ..generation import EncoderDecoderCache, KeyValueCache, Seq2SeqGenerationMixin
from ..losses import TORCH_LOSS_OPS
from ..modeling import ModelOutput, PreTrainedModel, activation

__all__ = ["T5_CLASSES", "T5Model", "T5ForConditionalGeneration", "T5EncoderModel", "T5PreTrainedModel"]


class T5LayerNorm(nn.Module):
    """RMS norm without bias or mean, in float32 (transformers' T5LayerNorm)."""

    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.variance_epsilon = eps

    def forward(self, hidden):
        variance = hidden.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden = hidden * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            hidden = hidden.to(self.weight.dtype)
        return self.weight * hidden


class T5DenseActDense(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = activation(config.dense_act_fn)

    def forward(self, hidden):
        return self.wo(self.dropout(self.act(self.wi(hidden))).to(self.wo.weight.dtype))


class T5DenseGatedActDense(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi_0 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = activation(config.dense_act_fn)

    def forward(self, hidden):
        return self.wo(self.dropout(self.act(self.wi_0(hidden)) * self.wi_1(hidden)).to(self.wo.weight.dtype))


class T5LayerFF(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(config) if config.is_gated_act else T5DenseActDense(config)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden):
        return hidden + self.dropout(self.DenseReluDense(self.layer_norm(hidden)))


class T5Attention(nn.Module):
    """Multi-head attention with no scaling and no biases; a stack's first layer also learns the relative-position
    bias (``relative_attention_bias``: a bucket's bias for each head)."""

    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool) -> None:
        super().__init__()
        self.config = config
        self.is_decoder = is_decoder
        self.n_heads, self.head_dim = config.num_heads, config.d_kv
        inner = self.n_heads * self.head_dim
        self.q = nn.Linear(config.d_model, inner, bias=False)
        self.k = nn.Linear(config.d_model, inner, bias=False)
        self.v = nn.Linear(config.d_model, inner, bias=False)
        self.o = nn.Linear(inner, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, self.n_heads)

    def position_bias(self, first_query: int, queries: int, keys: int):
        """``[1, heads, queries, keys]`` learned bias for queries at ``first_query..`` over keys ``0..keys-1``."""
        c = self.config
        buckets = relative_position_buckets(relative_positions(first_query, queries, keys), not self.is_decoder,
                                            c.relative_attention_num_buckets, c.relative_attention_max_distance)
        table = self.relative_attention_bias.weight
        return self.relative_attention_bias(torch.from_numpy(buckets).to(table.device)).permute(2, 0, 1).unsqueeze(0)

    def _heads(self, x):
        return x.view(x.shape[0], -1, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden, bias, key_value_states=None, cache: KeyValueCache | None = None, layer: int = 0,
                head_mask=None):
        """``bias``: the position bias plus the mask, added to the scores. Cross-attention (``key_value_states``)
        computes its keys and values once into ``cache``; self-attention appends the new positions'."""
        q = self._heads(self.q(hidden))
        if key_value_states is not None and cache is not None and len(cache) > layer:
            k, v = cache.keys[layer], cache.values[layer]
        else:
            source = hidden if key_value_states is None else key_value_states
            k, v = self._heads(self.k(source)), self._heads(self.v(source))
            if cache is not None:
                k, v = cache.update(layer, k, v)
        scores = q @ k.transpose(3, 2) + bias
        probs = self.dropout(scores.float().softmax(dim=-1).type_as(scores))
        if head_mask is not None:
            probs = probs * head_mask
        context = (probs @ v).transpose(1, 2).reshape(hidden.shape[0], -1, self.n_heads * self.head_dim)
        return self.o(context), probs


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool) -> None:
        super().__init__()
        self.SelfAttention = T5Attention(config, has_relative_attention_bias, is_decoder)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden, bias, cache=None, layer=0, head_mask=None):
        out, probs = self.SelfAttention(self.layer_norm(hidden), bias, cache=cache, layer=layer, head_mask=head_mask)
        return hidden + self.dropout(out), probs


class T5LayerCrossAttention(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.EncDecAttention = T5Attention(config, has_relative_attention_bias=False, is_decoder=True)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden, encoded, bias, cache=None, layer=0, head_mask=None):
        out, probs = self.EncDecAttention(self.layer_norm(hidden), bias, key_value_states=encoded, cache=cache, layer=layer,
                                          head_mask=head_mask)
        return hidden + self.dropout(out), probs


class T5Block(nn.Module):
    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool) -> None:
        super().__init__()
        layers = [T5LayerSelfAttention(config, has_relative_attention_bias, is_decoder)]
        if is_decoder:
            layers.append(T5LayerCrossAttention(config))
        layers.append(T5LayerFF(config))
        self.layer = nn.ModuleList(layers)
        self.is_decoder = is_decoder

    def forward(self, hidden, bias, encoded=None, cross_bias=None, cache: EncoderDecoderCache | None = None, index=0,
                head_mask=None, cross_head_mask=None):
        hidden, probs = self.layer[0](hidden, bias, cache.self_attention if cache else None, index, head_mask)
        cross = None
        if self.is_decoder and encoded is not None:
            hidden, cross = self.layer[1](hidden, encoded, cross_bias, cache.cross_attention if cache else None, index,
                                          cross_head_mask)
        return self.layer[-1](hidden), probs, cross


def _additive(allowed, dtype):
    """0 where attention is allowed, the dtype's minimum where not."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


class T5Stack(nn.Module):
    """The encoder or the decoder: embeddings (the shared table), blocks, final norm; the first block's relative
    bias serves every block."""

    def __init__(self, config: T5Config, embed_tokens: nn.Embedding, is_decoder: bool) -> None:
        super().__init__()
        self.config = config
        self.is_decoder = is_decoder
        self.embed_tokens = embed_tokens
        depth = config.num_decoder_layers if is_decoder else config.num_layers
        self.block = nn.ModuleList(T5Block(config, i == 0, is_decoder) for i in range(depth))
        self.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.gradient_checkpointing = False

    def _self_bias(self, batch: int, length: int, past: int, attention_mask, dtype):
        total = past + length
        bias = self.block[0].layer[0].SelfAttention.position_bias(past, length, total).to(dtype)
        if attention_mask is None:
            attention_mask = torch.ones(batch, total, dtype=torch.long, device=bias.device)
        allowed = attention_mask[:, None, None, :total].bool()
        if self.is_decoder:
            queries = torch.arange(past, total, device=bias.device)[:, None]
            allowed = allowed & (torch.arange(total, device=bias.device)[None, :] <= queries)
        return bias + _additive(allowed, dtype)

    def forward(self, input_ids, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                head_mask=None, cross_attn_head_mask=None, cache: EncoderDecoderCache | None = None):
        hidden = self.embed_tokens(input_ids)
        batch, length = input_ids.shape
        past = cache.length if cache is not None else 0
        bias = self._self_bias(batch, length, past, attention_mask, hidden.dtype)
        cross_bias = None
        if self.is_decoder and encoder_hidden_states is not None:
            if encoder_attention_mask is None:
                encoder_attention_mask = torch.ones(encoder_hidden_states.shape[:2], dtype=torch.long, device=hidden.device)
            cross_bias = _additive(encoder_attention_mask[:, None, None, :].bool(), hidden.dtype)
        hidden = self.dropout(hidden)
        states, attentions, cross_attentions = [], [], []
        for i, block in enumerate(self.block):
            states.append(hidden)
            layer_mask = head_mask[i] if head_mask is not None else None
            cross_mask = cross_attn_head_mask[i] if cross_attn_head_mask is not None else None
            if self.gradient_checkpointing and self.training and cache is None:
                hidden, probs, cross = torch.utils.checkpoint.checkpoint(
                    block, hidden, bias, encoder_hidden_states, cross_bias, None, i, layer_mask, cross_mask, use_reentrant=False)
            else:
                hidden, probs, cross = block(hidden, bias, encoder_hidden_states, cross_bias, cache, i, layer_mask, cross_mask)
            attentions.append(probs)
            if cross is not None:
                cross_attentions.append(cross)
        hidden = self.dropout(self.final_layer_norm(hidden))
        states.append(hidden)
        return hidden, tuple(states), tuple(attentions), tuple(cross_attentions)


class T5PreTrainedModel(PreTrainedModel):
    config_class = T5Config
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = True
    _no_split_modules = ["T5Block"]

    def _stacks(self, config: T5Config, decoder: bool) -> None:
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, self.shared, is_decoder=False)
        if decoder:
            self.decoder = T5Stack(config, self.shared, is_decoder=True)

    def get_input_embeddings(self):
        return self.shared

    def get_encoder(self):
        return self.encoder

    def set_input_embeddings(self, value):
        self.shared = value
        self.encoder.embed_tokens = value
        if hasattr(self, "decoder"):
            self.decoder.embed_tokens = value

    def shift_right(self, labels):
        """``decoder_input_ids`` from ``labels``: ``decoder_start_token_id`` first, every label moved one step right,
        ``-100`` read as the padding token (transformers' ``_shift_right``)."""
        start, pad = shift_tokens(self.config)
        shifted = torch.cat([torch.full_like(labels[..., :1], start), labels[..., :-1]], dim=-1)
        return shifted.masked_fill(shifted == -100, pad)

    def _encode(self, input_ids, attention_mask, head_mask, encoder_outputs):
        if encoder_outputs is not None:
            return encoder_outputs if isinstance(encoder_outputs, ModelOutput) else ModelOutput(
                last_hidden_state=encoder_outputs[0])
        last, states, attentions, _ = self.encoder(input_ids, attention_mask, head_mask=self._heads(head_mask))
        return ModelOutput(last_hidden_state=last, hidden_states=states, attentions=attentions)

    def _heads(self, head_mask):
        return self.get_head_mask(head_mask, self.config.num_layers) if head_mask is not None else None


class T5EncoderModel(T5PreTrainedModel):
    """The encoder alone: ``last_hidden_state``."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self._stacks(config, decoder=False)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, head_mask=None, output_hidden_states=False, output_attentions=False):
        out = self._encode(input_ids, attention_mask, head_mask, None)
        return ModelOutput(last_hidden_state=out.last_hidden_state,
                           hidden_states=out.hidden_states if output_hidden_states else None,
                           attentions=out.attentions if output_attentions else None)


class T5Model(T5PreTrainedModel):
    """Encoder and decoder: the decoder's ``last_hidden_state`` and the encoder's."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self._stacks(config, decoder=True)
        self.post_init()

    def _run(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, head_mask, decoder_head_mask,
             cross_attn_head_mask, encoder_outputs, past_key_values, use_cache):
        encoded = self._encode(input_ids, attention_mask, head_mask, encoder_outputs)
        cache = past_key_values
        if cache is None and (use_cache if use_cache is not None else False):
            cache = EncoderDecoderCache()
        if decoder_head_mask is None and head_mask is not None and self.config.num_layers == self.config.num_decoder_layers:
            decoder_head_mask = head_mask  # transformers' fallback
        decoded = self.decoder(decoder_input_ids, decoder_attention_mask, encoded.last_hidden_state, attention_mask,
                               self._heads(decoder_head_mask), self._heads(cross_attn_head_mask), cache)
        return encoded, decoded, cache

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                past_key_values=None, use_cache=None, output_hidden_states=False, output_attentions=False):
        encoded, (last, states, attentions, cross), cache = self._run(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, head_mask, decoder_head_mask,
            cross_attn_head_mask, encoder_outputs, past_key_values, use_cache)
        return _seq2seq_output(last_hidden_state=last, cache=cache, states=states, attentions=attentions, cross=cross,
                               encoded=encoded, hidden=output_hidden_states, attended=output_attentions)


def _seq2seq_output(cache, states, attentions, cross, encoded, hidden: bool, attended: bool, **first) -> ModelOutput:
    """transformers' Seq2Seq output fields in their order, the optional ones only when asked for."""
    return ModelOutput(**first, past_key_values=cache, decoder_hidden_states=states if hidden else None,
                       decoder_attentions=attentions if attended else None, cross_attentions=cross if attended else None,
                       encoder_last_hidden_state=encoded.last_hidden_state,
                       encoder_hidden_states=encoded.hidden_states if hidden else None,
                       encoder_attentions=encoded.attentions if attended else None)


class T5ForConditionalGeneration(Seq2SeqGenerationMixin, T5Model):
    """T5 with its language-model head: ``labels`` make ``decoder_input_ids`` (shifted right) and the loss."""

    _tied_weights_keys = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"]

    def __init__(self, config: T5Config) -> None:
        T5PreTrainedModel.__init__(self, config)
        self._stacks(config, decoder=True)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                past_key_values=None, labels=None, use_cache=None, output_hidden_states=False, output_attentions=False):
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = self.shift_right(labels)
        encoded, (last, states, attentions, cross), cache = self._run(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, head_mask, decoder_head_mask,
            cross_attn_head_mask, encoder_outputs, past_key_values, use_cache)
        if self.config.tie_word_embeddings:  # v1.0 scales the output onto the tied embeddings
            last = last * (self.config.d_model ** -0.5)
        logits = self.lm_head(last)
        loss = None if labels is None else masked_lm_loss(self.config, logits, labels, TORCH_LOSS_OPS)
        return _seq2seq_output(loss=loss, logits=logits, cache=cache, states=states, attentions=attentions, cross=cross,
                               encoded=encoded, hidden=output_hidden_states, attended=output_attentions)


#: T5's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
T5_CLASSES = {cls.__name__: cls for cls in (T5Model, T5ForConditionalGeneration, T5EncoderModel)}
