"""RoBERTa, XLM-RoBERTa and CamemBERT in Flax linen: BERT's encoder and heads (:mod:`.bert`) with RoBERTa's position
ids, masked-LM head and sequence-classification head, under transformers 4.x's parameter paths (``roberta/...``,
``lm_head/...``, ``classifier/dense``, ``classifier/out_proj``). transformers has no Flax CamemBERT; modelport's
reads the same checkpoints as its PyTorch and TF ones."""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from modelport import CamembertConfig, RobertaConfig, XLMRobertaConfig
from modelport.models.encoders import classifier_dropout_rate

from ..losses import MaskedLMLoss, QuestionAnsweringLoss, SequenceClassificationLoss, TokenClassificationLoss
from ..modeling import activation
from .bert import (
    FlaxBertEmbeddings,
    FlaxBertForHeadModule,
    FlaxBertForMaskedLMModule,
    FlaxBertForQuestionAnsweringModule,
    FlaxBertForTokenClassificationModule,
    FlaxBertModule,
    FlaxBertPreTrainedModel,
    _dense,
)

__all__ = ["ROBERTA_CLASSES"]


class FlaxRobertaEmbeddings(FlaxBertEmbeddings):
    """Positions count from past the padding index; padding tokens sit at the padding index."""

    def positions(self, input_ids):
        pad = self.config.pad_token_id
        real = (input_ids != pad).astype("i4")
        return jnp.cumsum(real, axis=1) * real + pad


class FlaxRobertaModule(FlaxBertModule):
    embeddings_class: ClassVar[type[FlaxBertEmbeddings]] = FlaxRobertaEmbeddings


class FlaxRobertaLMHead(nn.Module):
    """dense, GELU, layer norm, then the decoder (the word embeddings unless untied) plus ``bias``."""

    config: RobertaConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        c = self.config
        self.dense = _dense(c.hidden_size, c, self.dtype)
        self.layer_norm = nn.LayerNorm(epsilon=c.layer_norm_eps, dtype=self.dtype)
        if not c.tie_word_embeddings:
            self.decoder = _dense(c.vocab_size, c, self.dtype, use_bias=False)
        self.bias = self.param("bias", jax.nn.initializers.zeros, (c.vocab_size,))

    def __call__(self, hidden, shared_embedding):
        hidden = self.layer_norm(activation("gelu")(self.dense(hidden)))
        logits = hidden @ shared_embedding.T.astype(self.dtype) if self.config.tie_word_embeddings else self.decoder(hidden)
        return logits + self.bias.astype(self.dtype)


class FlaxRobertaForMaskedLMModule(FlaxBertForMaskedLMModule):
    prefix: ClassVar[str] = "roberta"
    base_module: ClassVar[type[nn.Module]] = FlaxRobertaModule
    head_name: ClassVar[str] = "lm_head"

    def make_head(self) -> nn.Module:
        return FlaxRobertaLMHead(self.config, dtype=self.dtype)


class FlaxRobertaClassificationHead(nn.Module):
    """On the first token (``<s>``): dropout, dense, tanh, dropout, ``out_proj``."""

    config: RobertaConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.hidden_size, self.config, self.dtype)
        self.dropout = nn.Dropout(rate=classifier_dropout_rate(self.config))
        self.out_proj = _dense(self.config.num_labels, self.config, self.dtype)

    def act(self, x):
        return nn.tanh(x)  # ELECTRA's head: GELU

    def __call__(self, hidden, deterministic: bool = True):
        x = self.act(self.dense(self.dropout(hidden[:, 0, :], deterministic=deterministic)))
        return self.out_proj(self.dropout(x, deterministic=deterministic))


class FlaxRobertaForSequenceClassificationModule(FlaxBertForHeadModule):
    prefix: ClassVar[str] = "roberta"
    base_module: ClassVar[type[nn.Module]] = FlaxRobertaModule

    head_class: ClassVar[type[nn.Module]] = FlaxRobertaClassificationHead

    def make_head(self) -> nn.Module:
        return self.head_class(self.config, dtype=self.dtype)

    def apply_head(self, features, deterministic: bool):
        return self.classifier(features, deterministic=deterministic)


class FlaxRobertaForTokenClassificationModule(FlaxBertForTokenClassificationModule):
    prefix: ClassVar[str] = "roberta"
    base_module: ClassVar[type[nn.Module]] = FlaxRobertaModule


class FlaxRobertaForQuestionAnsweringModule(FlaxBertForQuestionAnsweringModule):
    prefix: ClassVar[str] = "roberta"
    base_module: ClassVar[type[nn.Module]] = FlaxRobertaModule


class FlaxRobertaPreTrainedModel(FlaxBertPreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"


class FlaxRobertaModel(FlaxRobertaPreTrainedModel):
    module_class = FlaxRobertaModule


class FlaxRobertaForMaskedLM(MaskedLMLoss, FlaxRobertaPreTrainedModel):
    module_class = FlaxRobertaForMaskedLMModule


class FlaxRobertaForSequenceClassification(SequenceClassificationLoss, FlaxRobertaPreTrainedModel):
    module_class = FlaxRobertaForSequenceClassificationModule


class FlaxRobertaForTokenClassification(TokenClassificationLoss, FlaxRobertaPreTrainedModel):
    module_class = FlaxRobertaForTokenClassificationModule


class FlaxRobertaForQuestionAnswering(QuestionAnsweringLoss, FlaxRobertaPreTrainedModel):
    module_class = FlaxRobertaForQuestionAnsweringModule


# XLM-RoBERTa and CamemBERT are RoBERTa under other names and config classes
class FlaxXLMRobertaModel(FlaxRobertaModel):
    config_class = XLMRobertaConfig


class FlaxXLMRobertaForMaskedLM(FlaxRobertaForMaskedLM):
    config_class = XLMRobertaConfig


class FlaxXLMRobertaForSequenceClassification(FlaxRobertaForSequenceClassification):
    config_class = XLMRobertaConfig


class FlaxXLMRobertaForTokenClassification(FlaxRobertaForTokenClassification):
    config_class = XLMRobertaConfig


class FlaxXLMRobertaForQuestionAnswering(FlaxRobertaForQuestionAnswering):
    config_class = XLMRobertaConfig


class FlaxCamembertModel(FlaxRobertaModel):
    config_class = CamembertConfig


class FlaxCamembertForMaskedLM(FlaxRobertaForMaskedLM):
    config_class = CamembertConfig


class FlaxCamembertForSequenceClassification(FlaxRobertaForSequenceClassification):
    config_class = CamembertConfig


class FlaxCamembertForTokenClassification(FlaxRobertaForTokenClassification):
    config_class = CamembertConfig


class FlaxCamembertForQuestionAnswering(FlaxRobertaForQuestionAnswering):
    config_class = CamembertConfig


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ROBERTA_CLASSES = {cls.__name__.removeprefix("Flax"): cls for cls in (
    FlaxRobertaModel, FlaxRobertaForMaskedLM, FlaxRobertaForSequenceClassification, FlaxRobertaForTokenClassification,
    FlaxRobertaForQuestionAnswering, FlaxXLMRobertaModel, FlaxXLMRobertaForMaskedLM, FlaxXLMRobertaForSequenceClassification,
    FlaxXLMRobertaForTokenClassification, FlaxXLMRobertaForQuestionAnswering, FlaxCamembertModel, FlaxCamembertForMaskedLM,
    FlaxCamembertForSequenceClassification, FlaxCamembertForTokenClassification, FlaxCamembertForQuestionAnswering)}
