"""ELECTRA in Flax linen: BERT's encoder behind ``embedding_size``-wide embeddings (projected by
``embeddings_project``), no pooler, and its heads (discriminator, generator, task heads) under transformers 4.x's
parameter tree."""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from modelport import ElectraConfig

from ..losses import (
    MaskedLMLoss,
    QuestionAnsweringLoss,
    ReplacedTokenDetectionLoss,
    SequenceClassificationLoss,
    TokenClassificationLoss,
)
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
from .roberta import FlaxRobertaClassificationHead, FlaxRobertaForSequenceClassificationModule

__all__ = ["ELECTRA_CLASSES"]


class FlaxElectraEmbeddings(FlaxBertEmbeddings):
    width_attribute: ClassVar[str] = "embedding_size"


class FlaxElectraModule(FlaxBertModule):
    """BERT's encoder behind the projected embeddings, with no pooler whatever the caller asks."""

    add_pooling_layer: bool = False
    embeddings_class: ClassVar[type[nn.Module]] = FlaxElectraEmbeddings

    def setup(self) -> None:
        self.embeddings = self.embeddings_class(self.config, dtype=self.dtype)
        if self.config.embedding_size != self.config.hidden_size:
            self.embeddings_project = _dense(self.config.hidden_size, self.config, self.dtype)
        self.encoder = self.encoder_class(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)

    def embed(self, input_ids, token_type_ids, position_ids, deterministic: bool = True):
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, deterministic)
        if self.config.embedding_size != self.config.hidden_size:
            hidden = self.embeddings_project(hidden)
        return hidden

    def pool(self, last):
        return None  # ELECTRA has no pooler


class FlaxElectraDiscriminatorPredictions(nn.Module):
    """dense, the config's activation, then one logit a token: was it replaced?"""

    config: ElectraConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.hidden_size, self.config, self.dtype)
        self.dense_prediction = _dense(1, self.config, self.dtype)

    def __call__(self, hidden):
        return self.dense_prediction(activation(self.config.hidden_act)(self.dense(hidden))).squeeze(-1)


class FlaxElectraForPreTrainingModule(FlaxBertForHeadModule):
    prefix: ClassVar[str] = "electra"
    base_module: ClassVar[type[nn.Module]] = FlaxElectraModule
    head_name: str = "discriminator_predictions"
    head_dropout: bool = False

    def make_head(self) -> nn.Module:
        return FlaxElectraDiscriminatorPredictions(self.config, dtype=self.dtype)


class FlaxElectraGeneratorPredictions(nn.Module):
    """dense down to the embedding width, GELU, layer norm."""

    config: ElectraConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.embedding_size, self.config, self.dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype)

    def __call__(self, hidden):
        return self.LayerNorm(activation("gelu")(self.dense(hidden)))


class FlaxElectraGeneratorHead(nn.Module):
    """``generator_lm_head``: the word embeddings (transposed, unless the config unties them) plus ``bias``."""

    config: ElectraConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        if not self.config.tie_word_embeddings:
            self.kernel = self.param("kernel", jax.nn.initializers.normal(self.config.initializer_range),
                                     (self.config.embedding_size, self.config.vocab_size))
        self.bias = self.param("bias", jax.nn.initializers.zeros, (self.config.vocab_size,))

    def __call__(self, hidden, shared_embedding):
        matrix = shared_embedding.T if self.config.tie_word_embeddings else self.kernel
        return hidden @ matrix.astype(self.dtype) + self.bias.astype(self.dtype)


class FlaxElectraForMaskedLMModule(FlaxBertForMaskedLMModule):
    prefix: ClassVar[str] = "electra"
    base_module: ClassVar[type[nn.Module]] = FlaxElectraModule
    head_name: ClassVar[str] = "generator_lm_head"

    def setup(self) -> None:
        super().setup()
        self.generator_predictions = FlaxElectraGeneratorPredictions(self.config, dtype=self.dtype)

    def make_head(self) -> nn.Module:
        return FlaxElectraGeneratorHead(self.config, dtype=self.dtype)

    def head_logits(self, hidden, shared_embedding):
        return self.generator_lm_head(self.generator_predictions(hidden), shared_embedding)


class FlaxElectraClassificationHead(FlaxRobertaClassificationHead):
    """On the first token: dropout, dense, GELU (where RoBERTa has tanh), dropout, ``out_proj``."""

    def act(self, x):
        return activation("gelu")(x)


class FlaxElectraForSequenceClassificationModule(FlaxRobertaForSequenceClassificationModule):
    prefix: ClassVar[str] = "electra"
    base_module: ClassVar[type[nn.Module]] = FlaxElectraModule
    head_class: ClassVar[type[nn.Module]] = FlaxElectraClassificationHead


class FlaxElectraForTokenClassificationModule(FlaxBertForTokenClassificationModule):
    prefix: ClassVar[str] = "electra"
    base_module: ClassVar[type[nn.Module]] = FlaxElectraModule


class FlaxElectraForQuestionAnsweringModule(FlaxBertForQuestionAnsweringModule):
    prefix: ClassVar[str] = "electra"
    base_module: ClassVar[type[nn.Module]] = FlaxElectraModule


class FlaxElectraPreTrainedModel(FlaxBertPreTrainedModel):
    config_class = ElectraConfig
    base_model_prefix = "electra"


class FlaxElectraModel(FlaxElectraPreTrainedModel):
    module_class = FlaxElectraModule


class FlaxElectraForPreTraining(ReplacedTokenDetectionLoss, FlaxElectraPreTrainedModel):
    module_class = FlaxElectraForPreTrainingModule


class FlaxElectraForMaskedLM(MaskedLMLoss, FlaxElectraPreTrainedModel):
    module_class = FlaxElectraForMaskedLMModule


class FlaxElectraForSequenceClassification(SequenceClassificationLoss, FlaxElectraPreTrainedModel):
    module_class = FlaxElectraForSequenceClassificationModule


class FlaxElectraForTokenClassification(TokenClassificationLoss, FlaxElectraPreTrainedModel):
    module_class = FlaxElectraForTokenClassificationModule


class FlaxElectraForQuestionAnswering(QuestionAnsweringLoss, FlaxElectraPreTrainedModel):
    module_class = FlaxElectraForQuestionAnsweringModule


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ELECTRA_CLASSES = {cls.__name__.removeprefix("Flax"): cls for cls in (
    FlaxElectraModel, FlaxElectraForPreTraining, FlaxElectraForMaskedLM, FlaxElectraForSequenceClassification,
    FlaxElectraForTokenClassification, FlaxElectraForQuestionAnswering)}
__all__ += [cls.__name__ for cls in ELECTRA_CLASSES.values()]
