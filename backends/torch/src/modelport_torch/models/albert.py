"""ALBERT in PyTorch: BERT's embeddings at ``embedding_size``, projected to the hidden size, and layer groups whose
weights every step of the same group shares; transformers 4.x's names (``albert.encoder.albert_layer_groups.<g>.
albert_layers.<i>.*``, ``predictions.*``) and outputs."""

from __future__ import annotations

import torch
from torch import nn

from modelport import AlbertConfig
from modelport.models.albert import albert_group_of_step

from ..modeling import activation, kept_head_index, prune_linear
from .bert import (
    BertEmbeddings,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertPreTrainedModel,
    BertSelfAttention,
)

__all__ = ["ALBERT_CLASSES"]


class AlbertEmbeddings(BertEmbeddings):
    width_attribute = "embedding_size"


class AlbertAttention(BertSelfAttention):
    """Self-attention, its output projection (``dense``) and the residual layer norm in one module."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.pruned_heads: set[int] = set()

    def prune_heads(self, heads: list[int]) -> None:
        heads, index = kept_head_index(set(heads), self.num_attention_heads, self.attention_head_size, self.pruned_heads)
        if not heads:
            return
        for linear in (self.query, self.key, self.value):
            prune_linear(linear, index, dim=0)
        prune_linear(self.dense, index, dim=1)
        self.num_attention_heads -= len(heads)
        self.all_head_size = self.attention_head_size * self.num_attention_heads
        self.pruned_heads |= heads

    def forward(self, hidden, mask=None, head_mask=None):
        context, probs = super().forward(hidden, mask, head_mask)
        return self.LayerNorm(hidden + self.output_dropout(self.dense(context))), probs


class AlbertLayer(nn.Module):
    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.full_layer_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = AlbertAttention(config)
        self.ffn = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.activation = activation(config.hidden_act)

    def forward(self, hidden, mask=None, head_mask=None):
        attended, probs = self.attention(hidden, mask, head_mask)
        out = self.ffn_output(self.activation(self.ffn(attended)))  # no dropout here, as in transformers
        return self.full_layer_layer_norm(out + attended), probs


class AlbertLayerGroup(nn.Module):
    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList(AlbertLayer(config) for _ in range(config.inner_group_num))

    def forward(self, hidden, mask=None, head_masks=None):
        attentions = []
        for i, layer in enumerate(self.albert_layers):
            hidden, probs = layer(hidden, mask, head_masks[i] if head_masks is not None else None)
            attentions.append(probs)
        return hidden, attentions


class AlbertTransformer(nn.Module):
    """The projection to the hidden size, then ``num_hidden_layers`` steps, each running its group's layers.

    ``hidden_states`` holds the projected embeddings and each step's output; ``attentions`` every layer run's."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding_hidden_mapping_in = nn.Linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nn.ModuleList(AlbertLayerGroup(config) for _ in range(config.num_hidden_groups))
        self.gradient_checkpointing = False

    def forward(self, hidden, mask=None, head_mask=None):
        hidden = self.embedding_hidden_mapping_in(hidden)
        states, attentions = [hidden], []
        steps, groups = self.config.num_hidden_layers, self.config.num_hidden_groups
        per_group = steps // groups
        for step in range(steps):
            g = albert_group_of_step(self.config, step)
            # transformers hands each group the head masks of its own slice of steps, one per inner layer
            head_masks = head_mask[g * per_group:(g + 1) * per_group] if head_mask is not None else None
            group = self.albert_layer_groups[g]
            if self.gradient_checkpointing and self.training:
                hidden, probs = torch.utils.checkpoint.checkpoint(group, hidden, mask, head_masks, use_reentrant=False)
            else:
                hidden, probs = group(hidden, mask, head_masks)
            states.append(hidden)
            attentions.extend(probs)
        return hidden, tuple(states), tuple(attentions)


class AlbertPooler(nn.Linear):
    """``pooler`` is a bare linear layer in ALBERT (tanh after it, on the first token)."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config.hidden_size, config.hidden_size)

    def forward(self, hidden):
        return torch.tanh(super().forward(hidden[:, 0]))


class AlbertPreTrainedModel(BertPreTrainedModel):
    config_class = AlbertConfig
    base_model_prefix = "albert"
    _no_split_modules = ["AlbertLayer"]


class AlbertModel(AlbertPreTrainedModel, BertModel):
    """The bare ALBERT encoder: ``last_hidden_state`` and ``pooler_output``."""

    embeddings_class = AlbertEmbeddings
    encoder_class = AlbertTransformer
    pooler_class = AlbertPooler

    def _prune_heads(self, heads_to_prune):
        # layer indices count the distinct layers, group by group (transformers' numbering)
        inner = self.config.inner_group_num
        for layer, heads in heads_to_prune.items():
            group, index = divmod(int(layer), inner)
            self.encoder.albert_layer_groups[group].albert_layers[index].attention.prune_heads(heads)


AlbertPreTrainedModel.base_class = AlbertModel


class AlbertMLMHead(nn.Module):
    """dense to the embedding width, the config's activation, layer norm, then the (tied) decoder plus ``bias``."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size)
        self.activation = activation(config.hidden_act)
        self.decoder.bias = self.bias  # one parameter under two names, as in transformers

    def forward(self, hidden):
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden))))


class AlbertForMaskedLM(AlbertPreTrainedModel, BertForMaskedLM):
    """ALBERT with its masked-language-model head; the decoder is tied to the word embeddings."""

    _tied_weights_keys = ["predictions.decoder.weight", "predictions.decoder.bias"]
    lm_head_name = "predictions"

    def make_lm_head(self, config: AlbertConfig) -> nn.Module:
        return AlbertMLMHead(config)

    def decoder_owner(self) -> nn.Module:
        return self.predictions


class AlbertForSequenceClassification(AlbertPreTrainedModel, BertForSequenceClassification):
    """A classifier (or regressor) on the pooled first token; the loss's problem type follows the config or labels."""


class AlbertForTokenClassification(AlbertPreTrainedModel, BertForTokenClassification):
    """A classifier on every token (tagging); labels of -100 add no loss."""


class AlbertForQuestionAnswering(AlbertPreTrainedModel, BertForQuestionAnswering):
    """Extractive question answering: each token's score as the answer's start and as its end."""


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ALBERT_CLASSES = {cls.__name__: cls for cls in (
    AlbertModel, AlbertForMaskedLM, AlbertForSequenceClassification, AlbertForTokenClassification, AlbertForQuestionAnswering)}
__all__ += list(ALBERT_CLASSES)
