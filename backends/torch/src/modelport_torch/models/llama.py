"""The Llama family (Llama, Mistral, Qwen2, Gemma) in PyTorch, with transformers 4.x's parameter names and outputs.

One implementation serves Llama, Mistral, Qwen2 and Gemma: what sets them
apart (biases, head size, sliding windows, Gemma's norm and embedding scale)
is looked up in the core's :mod:`modelport.models.decoders`, and the rotary
frequencies come from :func:`modelport.models.rope.rope_parameters`.
"""

from __future__ import annotations

import torch
from torch import nn

from modelport import GemmaConfig, LlamaConfig, MistralConfig, PretrainedConfig, Qwen2Config
from modelport.models.decoders import DecoderFacts, decoder_facts
from modelport.models.losses import sequence_classification_loss
from modelport.models.rope import ROPE_SCALINGS, rope_parameters, rope_type

from ..generation import GenerationMixin, KeyValueCache
from ..losses import TORCH_LOSS_OPS
from ..modeling import ModelOutput, PreTrainedModel, activation

__all__ = ["DecoderModel", "DecoderForCausalLM", "DecoderForSequenceClassification", "RMSNorm", "RotaryEmbedding", "decoder_mask",
           "DECODER_CLASSES"] + [f"{family}{kind}" for family in ("Llama", "Mistral", "Qwen2", "Gemma")
                                 for kind in ("Model", "ForCausalLM", "ForSequenceClassification")]


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in float32; the scale is ``offset + weight`` (Gemma: offset 1, weight from 0)."""

    def __init__(self, size: int, eps: float, offset: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(size) if offset else torch.ones(size))
        self.eps, self.offset = eps, offset

    def forward(self, x):
        dtype = x.dtype
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        if self.offset:  # Gemma scales in float32, then rounds
            return (normed * (self.offset + self.weight.float())).to(dtype)
        return self.weight * normed.to(dtype)  # Llama rounds, then scales in the weight's dtype


class RotaryEmbedding(nn.Module):
    """cos and sin of each position times the core's inverse frequencies, in float32, then in the hidden dtype."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config
        # a plain attribute, not a buffer: computed, so nothing to load, save or lose on the meta device
        self.inv_freq, self.attention_scaling = rope_parameters(config)
        self.grows = ROPE_SCALINGS[rope_type(config)].grows_with_length

    def forward(self, x, position_ids):
        inv_freq, scaling = self.inv_freq, self.attention_scaling
        if self.grows:  # dynamic NTK stretches the base beyond max_position_embeddings (reading the max waits for the device)
            longest = int(position_ids.max()) + 1
            if longest > self.config.max_position_embeddings:
                inv_freq, scaling = rope_parameters(self.config, longest)
        inv_freq = torch.from_numpy(inv_freq).to(x.device)
        freqs = position_ids[:, :, None].float() * inv_freq[None, None, :]
        angles = torch.cat((freqs, freqs), dim=-1)
        return (angles.cos() * scaling).to(x.dtype), (angles.sin() * scaling).to(x.dtype)


def _rotate_half(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x, cos, sin):
    return x * cos[:, None] + _rotate_half(x) * sin[:, None]


def decoder_mask(attention_mask, queries: int, keys: int, window: int | None, device) -> torch.Tensor | None:
    """``[batch or 1, 1, queries, keys]`` booleans for the last ``queries`` positions of ``keys``: causal, within
    ``window`` positions when set, and not padding. None when causality alone decides and SDPA can do it alone: no
    padding, no window shorter than the sequence, and either every position is a query (the causal kernel) or one
    is (it sees every key).

    A query row with nothing to attend to (a left-padding position) may attend
    everywhere instead: its output is never used, and an all-masked row would
    give NaN, which later layers would spread through the padding keys.
    """
    unrestricted = window is None or window >= keys
    if unrestricted and queries in (1, keys) and (attention_mask is None or bool(attention_mask.bool().all())):
        return None
    q = torch.arange(keys - queries, keys, device=device)[:, None]
    k = torch.arange(keys, device=device)[None, :]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (k > q - window)
    allowed = allowed[None, None]
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, None, :keys].bool()
    return allowed | ~allowed.any(dim=-1, keepdim=True)


class DecoderAttention(nn.Module):
    def __init__(self, config: PretrainedConfig, facts: DecoderFacts, layer: int) -> None:
        super().__init__()
        self.head_dim = facts.head_dim(config)
        self.num_heads, self.num_kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.window = facts.sliding_window(config, layer)
        self.dropout = config.attention_dropout
        qkv_bias, width = facts.qkv_bias(config), config.hidden_size
        self.q_proj = nn.Linear(width, self.num_heads * self.head_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(width, self.num_kv_heads * self.head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(width, self.num_kv_heads * self.head_dim, bias=qkv_bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, width, bias=facts.output_bias(config))

    def forward(self, hidden, cos, sin, masks, output_attentions: bool = False, cache=None, layer: int = 0):
        b, s, _ = hidden.shape
        # -1 heads: under tensor parallelism each rank holds a slice of the heads (modelport_torch.sharding)
        q = self.q_proj(hidden).view(b, s, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden).view(b, s, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden).view(b, s, -1, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:  # the keys and values of earlier positions, then these
            k, v = cache.update(layer, k, v)
        groups = self.num_heads // self.num_kv_heads
        mask = masks[self.window]
        dropout = self.dropout if self.training else 0.0
        if output_attentions:  # the maps themselves: computed as transformers' eager attention does
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
            if mask is None:
                mask = torch.ones(k.shape[2], k.shape[2], dtype=torch.bool, device=hidden.device).tril()[-s:]
            scores = (q @ k.transpose(-1, -2)) * self.head_dim**-0.5
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            probs = nn.functional.dropout(scores.softmax(-1, dtype=torch.float32).to(q.dtype), dropout, self.training)
            out = probs @ v
        else:  # fused; grouped key/value heads shared without copies; the causal kernel when no mask is needed
            out, probs = nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=mask is None and s > 1, scale=self.head_dim**-0.5,
                enable_gqa=groups > 1), None
        return self.o_proj(out.transpose(1, 2).reshape(b, s, -1)), probs


class DecoderMLP(nn.Module):
    """``down(act(gate(x)) * up(x))``: SwiGLU with SiLU, GeGLU with Gemma's GELU."""

    def __init__(self, config: PretrainedConfig, facts: DecoderFacts) -> None:
        super().__init__()
        bias = facts.mlp_bias(config)
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=bias)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=bias)
        self.act_fn = activation(config.hidden_act)

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, config: PretrainedConfig, facts: DecoderFacts, layer: int) -> None:
        super().__init__()
        self.self_attn = DecoderAttention(config, facts, layer)
        self.mlp = DecoderMLP(config, facts)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps, facts.norm_offset)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps, facts.norm_offset)

    def forward(self, hidden, cos, sin, masks, output_attentions: bool = False, cache=None, layer: int = 0):
        attended, probs = self.self_attn(self.input_layernorm(hidden), cos, sin, masks, output_attentions, cache, layer)
        hidden = hidden + attended
        return hidden + self.mlp(self.post_attention_layernorm(hidden)), probs


class DecoderPreTrainedModel(PreTrainedModel):
    """Shared by the Llama family: the base model lives under ``model``."""

    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["DecoderLayer"]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, RMSNorm):
            module.weight.data.fill_(0.0 if module.offset else 1.0)
        else:
            super()._init_weights(module)


class DecoderModel(DecoderPreTrainedModel):
    """The bare decoder: ``last_hidden_state`` after the final norm."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.facts = decoder_facts(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.layers = nn.ModuleList(DecoderLayer(config, self.facts, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps, self.facts.norm_offset)
        self.rotary_emb = RotaryEmbedding(config)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                output_hidden_states=False, output_attentions=False, past_key_values=None, use_cache=False):
        """``attention_mask`` covers the cached positions and these; ``past_key_values`` (a :class:`KeyValueCache`)
        holds the earlier positions' keys and values, and with ``use_cache`` these are added and it is returned."""
        hidden = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        b, s = hidden.shape[:2]
        cache = past_key_values if past_key_values is not None else (KeyValueCache() if use_cache else None)
        past = cache.length if cache is not None else 0
        if self.facts.scales_embeddings:
            hidden = hidden * torch.tensor(self.config.hidden_size**0.5, dtype=hidden.dtype)
        if position_ids is None:  # as transformers' forward: past..past+s-1 even for left padding (generate derives them)
            position_ids = torch.arange(past, past + s, device=hidden.device)[None].expand(b, -1)
        cos, sin = self.rotary_emb(hidden, position_ids)
        windows = {layer.self_attn.window for layer in self.layers}
        masks = {window: decoder_mask(attention_mask, s, past + s, window, hidden.device) for window in windows}
        states, attentions = [hidden], []
        for index, layer in enumerate(self.layers):
            if self.gradient_checkpointing and self.training:
                hidden, probs = torch.utils.checkpoint.checkpoint(layer, hidden, cos, sin, masks, output_attentions,
                                                                  use_reentrant=False)
            else:
                hidden, probs = layer(hidden, cos, sin, masks, output_attentions, cache, index)
            states.append(hidden)
            attentions.append(probs)
        hidden = self.norm(hidden)
        states[-1] = hidden  # transformers reports the last hidden state after the final norm
        return ModelOutput(last_hidden_state=hidden, past_key_values=cache if use_cache or past_key_values is not None else None,
                           hidden_states=tuple(states) if output_hidden_states else None,
                           attentions=tuple(attentions) if output_attentions else None)


class DecoderForCausalLM(GenerationMixin, DecoderPreTrainedModel):
    """The decoder with its language-model head (tied to the embeddings when the config says so)."""

    _tied_weights_keys = ["lm_head.weight"]
    base_class: type[DecoderModel] = DecoderModel

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.model = self.base_class(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                output_hidden_states=False, output_attentions=False, past_key_values=None, use_cache=False,
                logits_to_keep: int = 0):
        """``logits_to_keep=n`` computes the logits of the last n positions only (0: all), as generation needs."""
        out = self.model(input_ids, attention_mask, position_ids, inputs_embeds, output_hidden_states=output_hidden_states,
                         output_attentions=output_attentions, past_key_values=past_key_values, use_cache=use_cache,
                         return_dict=True)
        logits = self.lm_head(out.last_hidden_state[:, -logits_to_keep:] if logits_to_keep else out.last_hidden_state)
        loss = None
        if labels is not None:  # next-token prediction; -100 labels are ignored
            shifted = logits[:, :-1].float()
            loss = nn.functional.cross_entropy(shifted.reshape(-1, shifted.shape[-1]), labels[:, 1:].reshape(-1).to(logits.device))
        # last_hidden_state is modelport's addition to transformers' CausalLMOutputWithPast, after its fields
        return ModelOutput(loss=loss, logits=logits, past_key_values=out.past_key_values, hidden_states=out.hidden_states,
                           attentions=out.attentions, last_hidden_state=out.last_hidden_state)


class DecoderForSequenceClassification(DecoderPreTrainedModel):
    """A ``score`` head on the last token that is not padding (the rightmost one: left padding works)."""

    base_class: type[DecoderModel] = DecoderModel

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = self.base_class(config)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                output_hidden_states=False, output_attentions=False):
        out = self.model(input_ids, attention_mask, position_ids, inputs_embeds, output_hidden_states=output_hidden_states,
                         output_attentions=output_attentions, return_dict=True)
        logits = self.score(out.last_hidden_state)
        batch = logits.shape[0]
        pad = self.config.pad_token_id
        if pad is None and batch != 1:
            raise ValueError(f"{type(self).__name__} needs config.pad_token_id to find each row's last token in a batch of {batch}")
        if pad is None or input_ids is None:
            last = torch.full((batch,), logits.shape[1] - 1, device=logits.device)
        else:
            positions = torch.arange(input_ids.shape[-1], device=logits.device)
            last = (positions * (input_ids != pad).to(logits.device, torch.int32)).argmax(-1)
        pooled = logits[torch.arange(batch, device=logits.device), last]
        return ModelOutput(loss=self._loss(pooled, labels), logits=pooled, hidden_states=out.hidden_states,
                           attentions=out.attentions)

    def _loss(self, logits, labels):
        return None if labels is None else sequence_classification_loss(self.config, logits, labels, TORCH_LOSS_OPS)


class LlamaPreTrainedModel(DecoderPreTrainedModel):
    config_class = LlamaConfig


class LlamaModel(DecoderModel, LlamaPreTrainedModel):
    pass


class LlamaForCausalLM(DecoderForCausalLM, LlamaPreTrainedModel):
    base_class = LlamaModel


class LlamaForSequenceClassification(DecoderForSequenceClassification, LlamaPreTrainedModel):
    base_class = LlamaModel


class MistralPreTrainedModel(DecoderPreTrainedModel):
    config_class = MistralConfig


class MistralModel(DecoderModel, MistralPreTrainedModel):
    pass


class MistralForCausalLM(DecoderForCausalLM, MistralPreTrainedModel):
    base_class = MistralModel


class MistralForSequenceClassification(DecoderForSequenceClassification, MistralPreTrainedModel):
    base_class = MistralModel


class Qwen2PreTrainedModel(DecoderPreTrainedModel):
    config_class = Qwen2Config


class Qwen2Model(DecoderModel, Qwen2PreTrainedModel):
    pass


class Qwen2ForCausalLM(DecoderForCausalLM, Qwen2PreTrainedModel):
    base_class = Qwen2Model


class Qwen2ForSequenceClassification(DecoderForSequenceClassification, Qwen2PreTrainedModel):
    base_class = Qwen2Model


class GemmaPreTrainedModel(DecoderPreTrainedModel):
    config_class = GemmaConfig


class GemmaModel(DecoderModel, GemmaPreTrainedModel):
    pass


class GemmaForCausalLM(DecoderForCausalLM, GemmaPreTrainedModel):
    base_class = GemmaModel


class GemmaForSequenceClassification(DecoderForSequenceClassification, GemmaPreTrainedModel):
    base_class = GemmaModel


#: the Llama family's classes by model_type: (bare, causal LM, sequence classification)
DECODER_CLASSES = {
    "llama": (LlamaModel, LlamaForCausalLM, LlamaForSequenceClassification),
    "mistral": (MistralModel, MistralForCausalLM, MistralForSequenceClassification),
    "qwen2": (Qwen2Model, Qwen2ForCausalLM, Qwen2ForSequenceClassification),
    "gemma": (GemmaModel, GemmaForCausalLM, GemmaForSequenceClassification),
}
