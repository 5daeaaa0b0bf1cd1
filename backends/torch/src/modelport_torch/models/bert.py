"""BERT in PyTorch with transformers 4.x's parameter names, shapes and outputs."""

from __future__ import annotations

import math

import torch
from torch import nn

from modelport import BertConfig
from modelport.models.encoders import classifier_dropout_rate
from modelport.models.losses import masked_lm_loss, question_answering_loss, sequence_classification_loss, token_classification_loss

from ..losses import TORCH_LOSS_OPS
from ..modeling import ModelOutput, PreTrainedModel, activation, extended_attention_mask, kept_head_index, prune_linear

__all__ = ["BERT_CLASSES", "BertModel", "BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification",
           "BertForQuestionAnswering", "BertPreTrainedModel"]


class BertEmbeddings(nn.Module):
    width_attribute = "hidden_size"  # the config attribute giving the embeddings' width (ALBERT, ELECTRA: embedding_size)

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        width = getattr(config, self.width_attribute)
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, width)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, width)
        self.LayerNorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def positions(self, input_ids):
        """``0..length-1`` in every row; computed, not a buffer: nothing to load or to lose on the meta device."""
        return torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)

    def forward(self, input_ids, token_type_ids=None, position_ids=None):
        if position_ids is None:
            position_ids = self.positions(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x):
        b, s, _ = x.shape
        # -1 heads: under tensor parallelism each rank holds a slice of the heads (modelport_torch.sharding)
        return x.view(b, s, -1, self.attention_head_size).transpose(1, 2)

    def forward(self, hidden, mask=None, head_mask=None):
        q, k, v = self._heads(self.query(hidden)), self._heads(self.key(hidden)), self._heads(self.value(hidden))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.attention_head_size)
        if mask is not None:
            scores = scores + mask
        probs = self.dropout(scores.softmax(dim=-1))
        if head_mask is not None:
            probs = probs * head_mask
        context = (probs @ v).transpose(1, 2).reshape(hidden.shape[0], hidden.shape[1], -1)
        return context, probs


class BertSelfOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)
        self.pruned_heads: set[int] = set()

    def prune_heads(self, heads: list[int]) -> None:
        heads, index = kept_head_index(set(heads), self.self.num_attention_heads, self.self.attention_head_size, self.pruned_heads)
        if not heads:
            return
        for linear in (self.self.query, self.self.key, self.self.value):
            prune_linear(linear, index, dim=0)
        prune_linear(self.output.dense, index, dim=1)
        self.self.num_attention_heads -= len(heads)
        self.self.all_head_size = self.self.attention_head_size * self.self.num_attention_heads
        self.pruned_heads |= heads

    def forward(self, hidden, mask=None, head_mask=None):
        context, probs = self.self(hidden, mask, head_mask)
        return self.output(context, hidden), probs


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)

    def forward(self, hidden):
        return self.act(self.dense(hidden))


class BertOutput(BertSelfOutput):
    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden, mask=None, head_mask=None):
        attended, probs = self.attention(hidden, mask, head_mask)
        return self.output(self.intermediate(attended), attended), probs


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, hidden, mask=None, head_mask=None):
        """The last hidden state, every layer's input and output (``hidden_states``) and attention probabilities."""
        states, attentions = [hidden], []
        for i, layer in enumerate(self.layer):
            layer_head_mask = head_mask[i] if head_mask is not None else None
            if self.gradient_checkpointing and self.training:
                hidden, probs = torch.utils.checkpoint.checkpoint(layer, hidden, mask, layer_head_mask, use_reentrant=False)
            else:
                hidden, probs = layer(hidden, mask, layer_head_mask)
            states.append(hidden)
            attentions.append(probs)
        return hidden, tuple(states), tuple(attentions)


class BertPooler(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden):
        return self.activation(self.dense(hidden[:, 0]))


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    base_class: type[BertPreTrainedModel]
    supports_gradient_checkpointing = True
    _no_split_modules = ["BertLayer"]


class BertModel(BertPreTrainedModel):
    """The bare BERT encoder: ``last_hidden_state`` and ``pooler_output``."""

    embeddings_class: type[nn.Module] = BertEmbeddings
    encoder_class: type[nn.Module] = BertEncoder  # (hidden, mask, head_mask) -> (last, states, attentions)
    pooler_class: type[nn.Module] = BertPooler

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = self.embeddings_class(config)
        self.encoder = self.encoder_class(config)
        self.pooler = self.pooler_class(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def _prune_heads(self, heads_to_prune):
        for layer, heads in heads_to_prune.items():
            self.encoder.layer[int(layer)].attention.prune_heads(heads)

    def embed(self, input_ids, token_type_ids=None, position_ids=None):
        """The encoder's input (ELECTRA projects the embeddings to the hidden size here)."""
        return self.embeddings(input_ids, token_type_ids, position_ids)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                output_hidden_states=False, output_attentions=False):
        hidden = self.embed(input_ids, token_type_ids, position_ids)
        mask = extended_attention_mask(attention_mask, hidden.dtype) if attention_mask is not None else None
        head_mask = self.get_head_mask(head_mask, self.config.num_hidden_layers)
        last, states, attentions = self.encoder(hidden, mask, head_mask)
        pooled = self.pooler(last) if self.pooler is not None else None
        return ModelOutput(last_hidden_state=last, pooler_output=pooled, hidden_states=states if output_hidden_states else None,
                           attentions=attentions if output_attentions else None)


BertPreTrainedModel.base_class = BertModel  # what a head builds under base_model_prefix (RoBERTa: RobertaModel)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias  # one parameter under two names, as in transformers

    def forward(self, hidden):
        return self.decoder(self.transform(hidden))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, hidden):
        return self.predictions(hidden)


class BertForMaskedLM(BertPreTrainedModel):
    """BERT with its masked-language-model head; the decoder is tied to the word embeddings."""

    _tied_weights_keys = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]

    lm_head_name = "cls"  # where the head lives (RoBERTa: lm_head)

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.base_class(config, add_pooling_layer=False))
        self.add_lm_head(config)
        self.post_init()

    def add_lm_head(self, config: BertConfig) -> None:
        setattr(self, self.lm_head_name, self.make_lm_head(config))

    def make_lm_head(self, config: BertConfig) -> nn.Module:
        return BertOnlyMLMHead(config)

    def lm_logits(self, hidden):
        return getattr(self, self.lm_head_name)(hidden)

    def decoder_owner(self) -> nn.Module:
        """The module whose ``decoder`` is the output projection."""
        return self.cls.predictions

    def get_input_embeddings(self):
        return self.base_model.embeddings.word_embeddings

    def get_output_embeddings(self):
        return self.decoder_owner().decoder

    def set_output_embeddings(self, value):
        self.decoder_owner().decoder = value

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                labels=None, output_hidden_states=False, output_attentions=False):
        out = self.base_model(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                        output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True)
        logits = self.lm_logits(out.last_hidden_state)
        loss = None if labels is None else masked_lm_loss(self.config, logits, labels, TORCH_LOSS_OPS)
        # last_hidden_state is modelport's addition to transformers' MaskedLMOutput, after its fields
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions,
                           last_hidden_state=out.last_hidden_state)


class BertClassifier(BertPreTrainedModel):
    """A dropout and a ``classifier`` layer on the pooled first token (``pooled``) or on every token, with
    ``loss_rule``'s loss when labels are given. The base of the sequence and token classifiers."""

    pooled = False
    loss_rule = staticmethod(token_classification_loss)

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, self.base_class(config, add_pooling_layer=self.pooled))
        self.dropout = nn.Dropout(classifier_dropout_rate(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                labels=None, output_hidden_states=False, output_attentions=False):
        out = self.base_model(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                        output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True)
        logits = self.classifier(self.dropout(out.pooler_output if self.pooled else out.last_hidden_state))
        loss = None if labels is None else self.loss_rule(self.config, logits, labels, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class BertForSequenceClassification(BertClassifier):
    """A classifier (or regressor) on the pooled first token; the loss's problem type follows the config or labels."""

    pooled = True
    loss_rule = staticmethod(sequence_classification_loss)


class BertForTokenClassification(BertClassifier):
    """A classifier on every token (tagging); labels of -100 add no loss."""


class BertForQuestionAnswering(BertPreTrainedModel):
    """Extractive question answering: each token's score as the answer's start and as its end."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, self.base_class(config, add_pooling_layer=False))
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                start_positions=None, end_positions=None, output_hidden_states=False, output_attentions=False):
        out = self.base_model(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                        output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True)
        start_logits, end_logits = (x.squeeze(-1).contiguous() for x in self.qa_outputs(out.last_hidden_state).split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits, hidden_states=out.hidden_states,
                           attentions=out.attentions)


#: BERT's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
BERT_CLASSES = {cls.__name__: cls for cls in (
    BertModel, BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, BertForQuestionAnswering)}
