"""RoBERTa, XLM-RoBERTa and CamemBERT in PyTorch: BERT's encoder and heads (:mod:`.bert`) with RoBERTa's position ids,
masked-LM head and sequence-classification head, under transformers 4.x's names (``roberta.*``, ``lm_head.*``,
``classifier.dense``/``classifier.out_proj``)."""

from __future__ import annotations

import torch
from torch import nn

from modelport import CamembertConfig, RobertaConfig, XLMRobertaConfig
from modelport.models.encoders import classifier_dropout_rate
from modelport.models.losses import sequence_classification_loss

from ..losses import TORCH_LOSS_OPS
from ..modeling import ModelOutput
from .bert import (
    BertEmbeddings,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForTokenClassification,
    BertModel,
    BertPreTrainedModel,
)

__all__ = ["ROBERTA_CLASSES"]


class RobertaEmbeddings(BertEmbeddings):
    """Positions count from past the padding index, and padding tokens sit at the padding index (transformers'
    ``create_position_ids_from_input_ids``): left or right padding gives real tokens the same positions."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size, padding_idx=self.padding_idx)

    def positions(self, input_ids):
        real = input_ids.ne(self.padding_idx).int()
        return (real.cumsum(dim=1) * real).long() + self.padding_idx


class RobertaPreTrainedModel(BertPreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"
    _no_split_modules = ["BertLayer", "RobertaEmbeddings"]


class RobertaModel(RobertaPreTrainedModel, BertModel):
    """The bare RoBERTa encoder: ``last_hidden_state`` and ``pooler_output``."""

    embeddings_class = RobertaEmbeddings


RobertaPreTrainedModel.base_class = RobertaModel


class RobertaLMHead(nn.Module):
    """dense, GELU, layer norm, then the decoder (tied to the word embeddings) plus ``bias``."""

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias  # one parameter under two names, as in transformers

    def forward(self, hidden):
        return self.decoder(self.layer_norm(nn.functional.gelu(self.dense(hidden))))


class RobertaForMaskedLM(RobertaPreTrainedModel, BertForMaskedLM):
    """RoBERTa with its masked-language-model head; the decoder is tied to the word embeddings."""

    _tied_weights_keys = ["lm_head.decoder.weight", "lm_head.decoder.bias"]
    lm_head_name = "lm_head"

    def make_lm_head(self, config: RobertaConfig) -> nn.Module:
        return RobertaLMHead(config)

    def decoder_owner(self) -> nn.Module:
        return self.lm_head


class RobertaClassificationHead(nn.Module):
    """On the first token (``<s>``): dropout, dense, tanh, dropout, ``out_proj``."""

    activation = staticmethod(torch.tanh)

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(classifier_dropout_rate(config))
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, hidden):
        x = self.activation(self.dense(self.dropout(hidden[:, 0, :])))
        return self.out_proj(self.dropout(x))


class RobertaForSequenceClassification(RobertaPreTrainedModel):
    """The classification head on the first token (no pooler); the loss's problem type follows the config or labels."""

    head_class: type[nn.Module] = RobertaClassificationHead  # ELECTRA's has GELU for tanh

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, self.base_class(config, add_pooling_layer=False))
        self.classifier = self.head_class(config)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                labels=None, output_hidden_states=False, output_attentions=False):
        out = self.base_model(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                              output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True)
        logits = self.classifier(out.last_hidden_state)
        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class RobertaForTokenClassification(RobertaPreTrainedModel, BertForTokenClassification):
    """A classifier on every token (tagging); labels of -100 add no loss."""


class RobertaForQuestionAnswering(RobertaPreTrainedModel, BertForQuestionAnswering):
    """Extractive question answering: each token's score as the answer's start and as its end."""


# XLM-RoBERTa and CamemBERT are RoBERTa under other names and config classes
class XLMRobertaPreTrainedModel(RobertaPreTrainedModel):
    config_class = XLMRobertaConfig


class XLMRobertaModel(XLMRobertaPreTrainedModel, RobertaModel):
    pass


XLMRobertaPreTrainedModel.base_class = XLMRobertaModel


class XLMRobertaForMaskedLM(XLMRobertaPreTrainedModel, RobertaForMaskedLM):
    pass


class XLMRobertaForSequenceClassification(XLMRobertaPreTrainedModel, RobertaForSequenceClassification):
    pass


class XLMRobertaForTokenClassification(XLMRobertaPreTrainedModel, RobertaForTokenClassification):
    pass


class XLMRobertaForQuestionAnswering(XLMRobertaPreTrainedModel, RobertaForQuestionAnswering):
    pass


class CamembertPreTrainedModel(RobertaPreTrainedModel):
    config_class = CamembertConfig


class CamembertModel(CamembertPreTrainedModel, RobertaModel):
    pass


CamembertPreTrainedModel.base_class = CamembertModel


class CamembertForMaskedLM(CamembertPreTrainedModel, RobertaForMaskedLM):
    pass


class CamembertForSequenceClassification(CamembertPreTrainedModel, RobertaForSequenceClassification):
    pass


class CamembertForTokenClassification(CamembertPreTrainedModel, RobertaForTokenClassification):
    pass


class CamembertForQuestionAnswering(CamembertPreTrainedModel, RobertaForQuestionAnswering):
    pass


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ROBERTA_CLASSES = {cls.__name__: cls for cls in (
    RobertaModel, RobertaForMaskedLM, RobertaForSequenceClassification, RobertaForTokenClassification,
    RobertaForQuestionAnswering, XLMRobertaModel, XLMRobertaForMaskedLM, XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification, XLMRobertaForQuestionAnswering, CamembertModel, CamembertForMaskedLM,
    CamembertForSequenceClassification, CamembertForTokenClassification, CamembertForQuestionAnswering)}
__all__ += list(ROBERTA_CLASSES)
