"""ALBERT in Flax linen: BERT's embeddings at ``embedding_size``, projected to the hidden size, and layer groups whose
weights every step of the same group shares; transformers 4.x's parameter tree (``albert/encoder/albert_layer_groups/
<g>/albert_layers/<i>/...``, ``predictions/...``) and outputs."""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from modelport import AlbertConfig
from modelport.models.albert import albert_group_of_step

from ..losses import MaskedLMLoss, QuestionAnsweringLoss, SequenceClassificationLoss, TokenClassificationLoss
from ..modeling import activation
from .bert import (
    FlaxBertEmbeddings,
    FlaxBertForMaskedLMModule,
    FlaxBertForQuestionAnsweringModule,
    FlaxBertForSequenceClassificationModule,
    FlaxBertForTokenClassificationModule,
    FlaxBertModule,
    FlaxBertPreTrainedModel,
    FlaxBertSelfAttention,
    _dense,
)

__all__ = ["ALBERT_CLASSES"]


class FlaxAlbertEmbeddings(FlaxBertEmbeddings):
    width_attribute: ClassVar[str] = "embedding_size"


class FlaxAlbertAttention(FlaxBertSelfAttention):
    """Self-attention, its output projection (``dense``) and the residual layer norm in one module."""

    def setup(self) -> None:
        super().setup()
        self.dense = _dense(self.config.hidden_size, self.config, self.dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype)
        self.output_dropout = nn.Dropout(rate=self.config.hidden_dropout_prob)

    def __call__(self, hidden, mask, deterministic: bool = True):
        context, weights = super().__call__(hidden, mask, deterministic)
        projected = self.output_dropout(self.dense(context), deterministic=deterministic)
        return self.LayerNorm(hidden + projected), weights


class FlaxAlbertLayer(nn.Module):
    config: AlbertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        c = self.config
        self.attention = FlaxAlbertAttention(c, dtype=self.dtype)
        self.ffn = _dense(c.intermediate_size, c, self.dtype)
        self.ffn_output = _dense(c.hidden_size, c, self.dtype)
        self.full_layer_layer_norm = nn.LayerNorm(epsilon=c.layer_norm_eps, dtype=self.dtype)

    def __call__(self, hidden, mask, deterministic: bool = True):
        attended, weights = self.attention(hidden, mask, deterministic)
        out = self.ffn_output(activation(self.config.hidden_act)(self.ffn(attended)))  # no dropout, as in PyTorch ALBERT
        return self.full_layer_layer_norm(out + attended), weights


class FlaxAlbertLayers(nn.Module):
    """A group's layers as a list named ``albert_layers`` (``albert_layers/<i>``), run one after the other."""

    config: AlbertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        block = nn.remat(FlaxAlbertLayer, static_argnums=(3,)) if self.gradient_checkpointing else FlaxAlbertLayer
        self.layers = [block(self.config, name=str(i), dtype=self.dtype) for i in range(self.config.inner_group_num)]

    def __call__(self, hidden, mask, deterministic: bool = True):
        attentions = []
        for layer in self.layers:
            hidden, weights = layer(hidden, mask, deterministic)
            attentions.append(weights)
        return hidden, attentions


class FlaxAlbertLayerGroup(nn.Module):
    config: AlbertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.albert_layers = FlaxAlbertLayers(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)

    def __call__(self, hidden, mask, deterministic: bool = True):
        return self.albert_layers(hidden, mask, deterministic)


class FlaxAlbertLayerGroups(nn.Module):
    """The groups as a list named ``albert_layer_groups`` (``albert_layer_groups/<g>/albert_layers/<i>``)."""

    config: AlbertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.groups = [FlaxAlbertLayerGroup(self.config, name=str(g), dtype=self.dtype,
                                            gradient_checkpointing=self.gradient_checkpointing)
                       for g in range(self.config.num_hidden_groups)]

    def __call__(self, hidden, mask, deterministic: bool = True):
        states, attentions = [hidden], []
        for step in range(self.config.num_hidden_layers):
            hidden, weights = self.groups[albert_group_of_step(self.config, step)](hidden, mask, deterministic)
            states.append(hidden)
            attentions.extend(weights)
        return hidden, tuple(states), tuple(attentions)


class FlaxAlbertEncoder(nn.Module):
    """The projection to the hidden size, then ``num_hidden_layers`` steps, each running its group's layers."""

    config: AlbertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.embedding_hidden_mapping_in = _dense(self.config.hidden_size, self.config, self.dtype)
        self.albert_layer_groups = FlaxAlbertLayerGroups(self.config, dtype=self.dtype,
                                                         gradient_checkpointing=self.gradient_checkpointing)

    def __call__(self, hidden, mask, deterministic: bool = True):
        return self.albert_layer_groups(self.embedding_hidden_mapping_in(hidden), mask, deterministic)


class FlaxAlbertModule(FlaxBertModule):
    embeddings_class: ClassVar[type[nn.Module]] = FlaxAlbertEmbeddings
    encoder_class: ClassVar[type[nn.Module]] = FlaxAlbertEncoder

    def make_pooler(self) -> nn.Module:
        return _dense(self.config.hidden_size, self.config, self.dtype)  # ALBERT's pooler is a bare dense layer

    def pool(self, last):
        return nn.tanh(self.pooler(last[:, 0]))


class FlaxAlbertMLMHead(nn.Module):
    """dense to the embedding width, the config's activation, layer norm, then the word embeddings (transposed, unless
    the config unties them) plus ``bias``."""

    config: AlbertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        c = self.config
        self.dense = _dense(c.embedding_size, c, self.dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=c.layer_norm_eps, dtype=self.dtype)
        if not c.tie_word_embeddings:
            self.decoder = _dense(c.vocab_size, c, self.dtype, use_bias=False)
        self.bias = self.param("bias", jax.nn.initializers.zeros, (c.vocab_size,))

    def __call__(self, hidden, shared_embedding):
        hidden = self.LayerNorm(activation(self.config.hidden_act)(self.dense(hidden)))
        logits = hidden @ shared_embedding.T.astype(self.dtype) if self.config.tie_word_embeddings else self.decoder(hidden)
        return logits + self.bias.astype(self.dtype)


class FlaxAlbertForMaskedLMModule(FlaxBertForMaskedLMModule):
    prefix: ClassVar[str] = "albert"
    base_module: ClassVar[type[nn.Module]] = FlaxAlbertModule
    head_name: ClassVar[str] = "predictions"

    def make_head(self) -> nn.Module:
        return FlaxAlbertMLMHead(self.config, dtype=self.dtype)


class FlaxAlbertForSequenceClassificationModule(FlaxBertForSequenceClassificationModule):
    prefix: ClassVar[str] = "albert"
    base_module: ClassVar[type[nn.Module]] = FlaxAlbertModule


class FlaxAlbertForTokenClassificationModule(FlaxBertForTokenClassificationModule):
    prefix: ClassVar[str] = "albert"
    base_module: ClassVar[type[nn.Module]] = FlaxAlbertModule


class FlaxAlbertForQuestionAnsweringModule(FlaxBertForQuestionAnsweringModule):
    prefix: ClassVar[str] = "albert"
    base_module: ClassVar[type[nn.Module]] = FlaxAlbertModule


class FlaxAlbertPreTrainedModel(FlaxBertPreTrainedModel):
    config_class = AlbertConfig
    base_model_prefix = "albert"


class FlaxAlbertModel(FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertModule


class FlaxAlbertForMaskedLM(MaskedLMLoss, FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForMaskedLMModule


class FlaxAlbertForSequenceClassification(SequenceClassificationLoss, FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForSequenceClassificationModule


class FlaxAlbertForTokenClassification(TokenClassificationLoss, FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForTokenClassificationModule


class FlaxAlbertForQuestionAnswering(QuestionAnsweringLoss, FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForQuestionAnsweringModule


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
ALBERT_CLASSES = {cls.__name__.removeprefix("Flax"): cls for cls in (
    FlaxAlbertModel, FlaxAlbertForMaskedLM, FlaxAlbertForSequenceClassification, FlaxAlbertForTokenClassification,
    FlaxAlbertForQuestionAnswering)}
__all__ += [cls.__name__ for cls in ALBERT_CLASSES.values()]
