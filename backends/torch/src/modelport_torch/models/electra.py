"""ELECTRA in PyTorch: BERT's encoder behind ``embedding_size``-wide embeddings (projected by
``embeddings_project``), no pooler, and its heads: the discriminator (``ForPreTraining``), the generator
(``ForMaskedLM``) and the task heads, under transformers 4.x's names (``electra.*``, ``discriminator_predictions.*``,
``generator_predictions.*``, ``generator_lm_head``, ``classifier.dense``/``classifier.out_proj``)."""

from __future__ import annotations

from torch import nn

from modelport import ElectraConfig
from modelport.models.losses import replaced_token_detection_loss

from ..losses import TORCH_LOSS_OPS
from ..modeling import ModelOutput, activation
from .bert import (
    BertEmbeddings,
    BertEncoder,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForTokenClassification,
    BertModel,
    BertPreTrainedModel,
)
from .roberta import RobertaClassificationHead, RobertaForSequenceClassification

__all__ = ["ELECTRA_CLASSES"]


class ElectraEmbeddings(BertEmbeddings):
    width_attribute = "embedding_size"


class ElectraPreTrainedModel(BertPreTrainedModel):
    config_class = ElectraConfig
    base_model_prefix = "electra"
    _no_split_modules = ["BertLayer"]


class ElectraModel(ElectraPreTrainedModel, BertModel):
    """The bare ELECTRA encoder: ``last_hidden_state`` (no pooler)."""

    def __init__(self, config: ElectraConfig, add_pooling_layer: bool = False) -> None:
        ElectraPreTrainedModel.__init__(self, config)
        self.embeddings = ElectraEmbeddings(config)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)
        self.encoder = BertEncoder(config)
        self.pooler = None
        self.post_init()

    def embed(self, input_ids, token_type_ids=None, position_ids=None):
        hidden = self.embeddings(input_ids, token_type_ids, position_ids)
        project = getattr(self, "embeddings_project", None)
        return hidden if project is None else project(hidden)


ElectraPreTrainedModel.base_class = ElectraModel


class ElectraDiscriminatorPredictions(nn.Module):
    """dense, the config's activation, then one logit a token: was it replaced?"""

    def __init__(self, config: ElectraConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = activation(config.hidden_act)
        self.dense_prediction = nn.Linear(config.hidden_size, 1)

    def forward(self, hidden):
        return self.dense_prediction(self.activation(self.dense(hidden))).squeeze(-1)


class ElectraForPreTraining(ElectraPreTrainedModel):
    """The discriminator: a replaced-token logit for every token; ``labels`` (1 = replaced) add the binary
    cross-entropy over the tokens the attention mask keeps."""

    def __init__(self, config: ElectraConfig) -> None:
        super().__init__(config)
        self.electra = self.base_class(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                labels=None, output_hidden_states=False, output_attentions=False):
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                           output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True)
        logits = self.discriminator_predictions(out.last_hidden_state)
        loss = None if labels is None else replaced_token_detection_loss(logits, labels, attention_mask, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class ElectraGeneratorPredictions(nn.Module):
    """dense down to the embedding width, GELU, layer norm."""

    def __init__(self, config: ElectraConfig) -> None:
        super().__init__()
        self.activation = activation("gelu")
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)

    def forward(self, hidden):
        return self.LayerNorm(self.activation(self.dense(hidden)))


class ElectraForMaskedLM(ElectraPreTrainedModel, BertForMaskedLM):
    """The generator: masked-token predictions through ``generator_lm_head``, tied to the word embeddings."""

    _tied_weights_keys = ["generator_lm_head.weight"]

    def add_lm_head(self, config: ElectraConfig) -> None:
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head = nn.Linear(config.embedding_size, config.vocab_size)

    def lm_logits(self, hidden):
        return self.generator_lm_head(self.generator_predictions(hidden))

    def get_output_embeddings(self):
        return self.generator_lm_head

    def set_output_embeddings(self, value):
        self.generator_lm_head = value


class ElectraClassificationHead(RobertaClassificationHead):
    """On the first token: dropout, dense, GELU (where RoBERTa has tanh), dropout, ``out_proj``."""

    activation = staticmethod(activation("gelu"))


class ElectraForSequenceClassification(ElectraPreTrainedModel, RobertaForSequenceClassification):
    """The classification head on the first token; the loss's problem type follows the config or labels."""

    head_class = ElectraClassificationHead


class ElectraForTokenClassification(ElectraPreTrainedModel, BertForTokenClassification):
    """A classifier on every token (tagging); labels of -100 add no loss."""


class ElectraForQuestionAnswering(ElectraPreTrainedModel, BertForQuestionAnswering):
    """Extractive question answering: each token's score as the answer's start and as its end."""


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ELECTRA_CLASSES = {cls.__name__: cls for cls in (
    ElectraModel, ElectraForPreTraining, ElectraForMaskedLM, ElectraForSequenceClassification, ElectraForTokenClassification,
    ElectraForQuestionAnswering)}
__all__ += list(ELECTRA_CLASSES)
