"""DistilBERT in PyTorch with transformers 4.x's parameter names, shapes and outputs: six post-norm layers
(``q_lin``...``out_lin``, ``sa_layer_norm``, ``ffn.lin1``/``lin2``, ``output_layer_norm``) under ``distilbert``, no
token types and no pooler."""

from __future__ import annotations

import math

import torch
from torch import nn

from modelport.models.distilbert import DistilBertConfig, sinusoidal_positions
from modelport.models.losses import masked_lm_loss, question_answering_loss, sequence_classification_loss, token_classification_loss

from ..losses import TORCH_LOSS_OPS
from ..modeling import ModelOutput, PreTrainedModel, activation, extended_attention_mask

__all__ = ["DISTILBERT_CLASSES", "DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
           "DistilBertForTokenClassification", "DistilBertForQuestionAnswering"]

NORM_EPS = 1e-12  # DistilBERT's layer norms, fixed in transformers' code rather than read from the config


class Embeddings(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        if config.sinusoidal_pos_embds:  # a fixed table: filled by _init_weights, never trained
            self.position_embeddings.weight.requires_grad_(False)
            self.position_embeddings.sinusoidal = True
        self.LayerNorm = nn.LayerNorm(config.dim, eps=NORM_EPS)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        return self.dropout(self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(positions)))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.n_heads, self.head_size = config.n_heads, config.dim // config.n_heads
        self.q_lin = nn.Linear(config.dim, config.dim)
        self.k_lin = nn.Linear(config.dim, config.dim)
        self.v_lin = nn.Linear(config.dim, config.dim)
        self.out_lin = nn.Linear(config.dim, config.dim)
        self.dropout = nn.Dropout(config.attention_dropout)

    def forward(self, hidden, mask=None, head_mask=None):
        b, s, _ = hidden.shape

        def heads(x):
            return x.view(b, s, self.n_heads, self.head_size).transpose(1, 2)

        q, k, v = heads(self.q_lin(hidden)), heads(self.k_lin(hidden)), heads(self.v_lin(hidden))
        scores = (q / math.sqrt(self.head_size)) @ k.transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        probs = self.dropout(scores.softmax(dim=-1))
        if head_mask is not None:
            probs = probs * head_mask
        context = (probs @ v).transpose(1, 2).reshape(b, s, self.n_heads * self.head_size)
        return self.out_lin(context), probs


class FFN(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.lin1 = nn.Linear(config.dim, config.hidden_dim)
        self.lin2 = nn.Linear(config.hidden_dim, config.dim)
        self.activation = activation(config.activation)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden):
        return self.dropout(self.lin2(self.activation(self.lin1(hidden))))


class TransformerBlock(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=NORM_EPS)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=NORM_EPS)

    def forward(self, hidden, mask=None, head_mask=None):
        attended, probs = self.attention(hidden, mask, head_mask)
        attended = self.sa_layer_norm(attended + hidden)
        return self.output_layer_norm(self.ffn(attended) + attended), probs


class Transformer(nn.Module):
    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))

    def forward(self, hidden, mask=None, head_mask=None):
        states, attentions = [hidden], []
        for i, block in enumerate(self.layer):
            hidden, probs = block(hidden, mask, head_mask[i] if head_mask is not None else None)
            states.append(hidden)
            attentions.append(probs)
        return hidden, tuple(states), tuple(attentions)


class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    _no_split_modules = ["TransformerBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        if getattr(module, "sinusoidal", False):
            with torch.no_grad():
                module.weight.copy_(torch.from_numpy(sinusoidal_positions(*module.weight.shape)))
            return
        super()._init_weights(module)


class DistilBertModel(DistilBertPreTrainedModel):
    """The bare encoder: ``last_hidden_state`` (DistilBERT has no pooler)."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.transformer = Transformer(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(self, input_ids, attention_mask=None, head_mask=None, output_hidden_states=False, output_attentions=False):
        hidden = self.embeddings(input_ids)
        mask = extended_attention_mask(attention_mask, hidden.dtype) if attention_mask is not None else None
        head_mask = self.get_head_mask(head_mask, self.config.n_layers)
        last, states, attentions = self.transformer(hidden, mask, head_mask)
        return ModelOutput(last_hidden_state=last, hidden_states=states if output_hidden_states else None,
                           attentions=attentions if output_attentions else None)


class DistilBertForMaskedLM(DistilBertPreTrainedModel):
    """The encoder, then ``vocab_transform``, the activation, ``vocab_layer_norm`` and ``vocab_projector`` (tied)."""

    _tied_weights_keys = ["vocab_projector.weight"]

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.activation = activation(config.activation)
        self.distilbert = DistilBertModel(config)
        self.vocab_transform = nn.Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=NORM_EPS)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.distilbert.embeddings.word_embeddings

    def get_output_embeddings(self):
        return self.vocab_projector

    def set_output_embeddings(self, value):
        self.vocab_projector = value

    def forward(self, input_ids, attention_mask=None, head_mask=None, labels=None, output_hidden_states=False,
                output_attentions=False):
        out = self.distilbert(input_ids, attention_mask, head_mask, output_hidden_states=output_hidden_states,
                              output_attentions=output_attentions, return_dict=True)
        logits = self.vocab_projector(self.vocab_layer_norm(self.activation(self.vocab_transform(out.last_hidden_state))))
        loss = None if labels is None else masked_lm_loss(self.config, logits, labels, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions,
                           last_hidden_state=out.last_hidden_state)


class DistilBertForSequenceClassification(DistilBertPreTrainedModel):
    """On the first token: ``pre_classifier``, ReLU, dropout (``seq_classif_dropout``), ``classifier``."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, head_mask=None, labels=None, output_hidden_states=False,
                output_attentions=False):
        out = self.distilbert(input_ids, attention_mask, head_mask, output_hidden_states=output_hidden_states,
                              output_attentions=output_attentions, return_dict=True)
        pooled = self.dropout(torch.relu(self.pre_classifier(out.last_hidden_state[:, 0])))
        logits = self.classifier(pooled)
        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class DistilBertForTokenClassification(DistilBertPreTrainedModel):
    """Dropout and a ``classifier`` on every token; labels of -100 add no loss."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, head_mask=None, labels=None, output_hidden_states=False,
                output_attentions=False):
        out = self.distilbert(input_ids, attention_mask, head_mask, output_hidden_states=output_hidden_states,
                              output_attentions=output_attentions, return_dict=True)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = None if labels is None else token_classification_loss(self.config, logits, labels, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class DistilBertForQuestionAnswering(DistilBertPreTrainedModel):
    """Dropout (``qa_dropout``) and ``qa_outputs`` on every token: the answer's start and end scores."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.qa_outputs = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.qa_dropout)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, head_mask=None, start_positions=None, end_positions=None,
                output_hidden_states=False, output_attentions=False):
        out = self.distilbert(input_ids, attention_mask, head_mask, output_hidden_states=output_hidden_states,
                              output_attentions=output_attentions, return_dict=True)
        logits = self.qa_outputs(self.dropout(out.last_hidden_state))
        start_logits, end_logits = (x.squeeze(-1).contiguous() for x in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits, hidden_states=out.hidden_states,
                           attentions=out.attentions)


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
DISTILBERT_CLASSES = {cls.__name__: cls for cls in (
    DistilBertModel, DistilBertForMaskedLM, DistilBertForSequenceClassification, DistilBertForTokenClassification,
    DistilBertForQuestionAnswering)}
