"""GPT-2 in PyTorch with transformers 4.x's parameter names, shapes and outputs."""

from __future__ import annotations

import math

import torch
from torch import nn

from modelport import GPT2Config

from ..generation import GenerationMixin, KeyValueCache
from ..modeling import ModelOutput, PreTrainedModel, activation, kept_head_index, prune_linear

__all__ = ["GPT2Model", "GPT2LMHeadModel", "GPT2PreTrainedModel", "Conv1D"]


class Conv1D(nn.Module):
    """GPT-2's linear layer: the weight is stored (in, out), the transpose of ``nn.Linear``'s."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], self.nf)


class GPT2Attention(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        self.embed_dim = config.n_embd
        self.num_heads = config.n_head
        self.head_dim = self.embed_dim // self.num_heads
        self.scale_attn_weights = config.scale_attn_weights
        self.scale_by_layer = (layer_idx + 1) if config.scale_attn_by_inverse_layer_idx else 1
        self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)
        self.split_size = self.embed_dim
        self.pruned_heads: set[int] = set()

    def prune_heads(self, heads: list[int]) -> None:
        heads, index = kept_head_index(set(heads), self.num_heads, self.head_dim, self.pruned_heads)
        if not heads:
            return
        qkv = torch.cat([index, index + self.split_size, index + 2 * self.split_size])
        prune_linear(self.c_attn, qkv, dim=1)
        prune_linear(self.c_proj, index, dim=0)
        self.num_heads -= len(heads)
        self.split_size = self.head_dim * self.num_heads
        self.pruned_heads |= heads

    def forward(self, hidden, mask=None, head_mask=None, cache=None, layer: int = 0):
        b, s, _ = hidden.shape
        q, k, v = self.c_attn(hidden).split(self.split_size, dim=2)
        q, k, v = (t.view(b, s, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if cache is not None:  # the keys and values of earlier positions, then these
            k, v = cache.update(layer, k, v)
        keys = k.shape[2]
        scores = q @ k.transpose(-1, -2)
        if self.scale_attn_weights:
            scores = scores / math.sqrt(self.head_dim)
        scores = scores / self.scale_by_layer
        causal = torch.ones(s, keys, dtype=torch.bool, device=hidden.device).tril(keys - s)
        scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
        if mask is not None:
            scores = scores + mask
        probs = self.attn_dropout(scores.softmax(dim=-1))
        if head_mask is not None:
            probs = probs * head_mask
        out = (probs @ v).transpose(1, 2).reshape(b, s, self.split_size)
        return self.resid_dropout(self.c_proj(out)), probs


class GPT2MLP(nn.Module):
    def __init__(self, inner: int, config: GPT2Config) -> None:
        super().__init__()
        self.c_fc = Conv1D(inner, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, inner)
        self.act = activation(config.activation_function)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden):
        return self.dropout(self.c_proj(self.act(self.c_fc(hidden))))


class GPT2Block(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(inner, config)

    def forward(self, hidden, mask=None, head_mask=None, cache=None, layer: int = 0):
        attended, probs = self.attn(self.ln_1(hidden), mask, head_mask, cache, layer)
        hidden = hidden + attended
        return hidden + self.mlp(self.ln_2(hidden)), probs


class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = True
    _no_split_modules = ["GPT2Block"]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, Conv1D):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            module.bias.data.zero_()
        else:
            super()._init_weights(module)


class GPT2Model(GPT2PreTrainedModel):
    """The bare GPT-2 decoder: ``last_hidden_state`` (after the final LayerNorm)."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(GPT2Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, value):
        self.wte = value

    def _prune_heads(self, heads_to_prune):
        for layer, heads in heads_to_prune.items():
            self.h[int(layer)].attn.prune_heads(heads)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                output_hidden_states=False, output_attentions=False, past_key_values=None, use_cache=False):
        """``attention_mask`` covers the cached positions and these; ``past_key_values`` (a :class:`KeyValueCache`)
        holds the earlier positions' keys and values, and with ``use_cache`` these are added and it is returned."""
        cache = past_key_values if past_key_values is not None else (KeyValueCache() if use_cache else None)
        past = cache.length if cache is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past, past + input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        hidden = self.wte(input_ids) + self.wpe(position_ids)
        if token_type_ids is not None:
            hidden = hidden + self.wte(token_type_ids)
        hidden = self.drop(hidden)
        mask = None
        if attention_mask is not None:
            mask = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        head_mask = self.get_head_mask(head_mask, self.config.n_layer)
        states, attentions = [hidden], []
        for i, block in enumerate(self.h):
            layer_head_mask = head_mask[i] if head_mask is not None else None
            if self.gradient_checkpointing and self.training:
                hidden, probs = torch.utils.checkpoint.checkpoint(block, hidden, mask, layer_head_mask, use_reentrant=False)
            else:
                hidden, probs = block(hidden, mask, layer_head_mask, cache, i)
            states.append(hidden)
            attentions.append(probs)
        hidden = self.ln_f(hidden)
        states[-1] = hidden  # transformers reports the last hidden state after ln_f
        return ModelOutput(last_hidden_state=hidden, past_key_values=cache if use_cache or past_key_values is not None else None,
                           hidden_states=tuple(states) if output_hidden_states else None,
                           attentions=tuple(attentions) if output_attentions else None)


class GPT2LMHeadModel(GenerationMixin, GPT2PreTrainedModel):
    """GPT-2 with its language-model head, tied to the token embeddings."""

    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.transformer.wte

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value


    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                labels=None, output_hidden_states=False, output_attentions=False, past_key_values=None, use_cache=False,
                logits_to_keep: int = 0):
        """``logits_to_keep=n`` computes the logits of the last n positions only (0: all), as generation needs."""
        out = self.transformer(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                               output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                               past_key_values=past_key_values, use_cache=use_cache, return_dict=True)
        hidden = out.last_hidden_state
        logits = self.lm_head(hidden[:, -logits_to_keep:] if logits_to_keep else hidden)
        loss = None
        if labels is not None:
            shift_logits, shift_labels = logits[:, :-1].contiguous(), labels[:, 1:].contiguous()
            loss = nn.functional.cross_entropy(shift_logits.view(-1, shift_logits.shape[-1]), shift_labels.view(-1))
        # last_hidden_state is modelport's addition to transformers' CausalLMOutput, after its fields
        return ModelOutput(loss=loss, logits=logits, past_key_values=out.past_key_values, hidden_states=out.hidden_states,
                           attentions=out.attentions, last_hidden_state=out.last_hidden_state)
