"""DistilBERT in Flax linen with transformers 4.x's parameter tree (``distilbert/transformer/layer/0/attention/q_lin``,
``vocab_projector/bias``...) and outputs."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from modelport.models.distilbert import DistilBertConfig, sinusoidal_positions

from ..losses import MaskedLMLoss, QuestionAnsweringLoss, SequenceClassificationLoss, TokenClassificationLoss
from ..modeling import FlaxPreTrainedModel, activation, attention_bias

__all__ = ["DISTILBERT_CLASSES", "FlaxDistilBertModel", "FlaxDistilBertForMaskedLM", "FlaxDistilBertForSequenceClassification",
           "FlaxDistilBertForTokenClassification", "FlaxDistilBertForQuestionAnswering"]

NORM_EPS = 1e-12  # DistilBERT's layer norms, fixed in transformers' code rather than read from the config


def _dense(features: int, config: DistilBertConfig, dtype: Any, **kwargs: Any) -> nn.Dense:
    return nn.Dense(features, dtype=dtype, kernel_init=jax.nn.initializers.normal(config.initializer_range), **kwargs)


class FlaxEmbeddings(nn.Module):
    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        init = jax.nn.initializers.normal(self.config.initializer_range)
        self.word_embeddings = nn.Embed(self.config.vocab_size, self.config.dim, embedding_init=init, dtype=self.dtype)
        if not self.config.sinusoidal_pos_embds:
            self.position_embeddings = nn.Embed(self.config.max_position_embeddings, self.config.dim, embedding_init=init,
                                                dtype=self.dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=NORM_EPS, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.dropout)

    def __call__(self, input_ids, deterministic: bool = True):
        length = input_ids.shape[-1]
        if self.config.sinusoidal_pos_embds:  # computed, not a parameter (transformers' Flax DistilBERT stores none)
            table = sinusoidal_positions(self.config.max_position_embeddings, self.config.dim)
            position_embeds = jnp.asarray(table[None, :length]).astype(self.dtype)
        else:
            position_embeds = self.position_embeddings(jnp.arange(length)[None, :])
        x = self.word_embeddings(input_ids.astype("i4")) + position_embeds
        return self.dropout(self.LayerNorm(x), deterministic=deterministic)


class FlaxMultiHeadSelfAttention(nn.Module):
    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        c = self.config
        self.q_lin, self.k_lin = _dense(c.dim, c, self.dtype), _dense(c.dim, c, self.dtype)
        self.v_lin, self.out_lin = _dense(c.dim, c, self.dtype), _dense(c.dim, c, self.dtype)

    def __call__(self, hidden, mask, deterministic: bool = True):
        c = self.config
        heads = lambda x: x.reshape(x.shape[:2] + (c.n_heads, c.dim // c.n_heads))  # noqa: E731
        q, k, v = heads(self.q_lin(hidden)), heads(self.k_lin(hidden)), heads(self.v_lin(hidden))
        dropout_rng = None if deterministic or c.attention_dropout == 0 else self.make_rng("dropout")
        weights = nn.dot_product_attention_weights(q, k, bias=attention_bias(mask, self.dtype) if mask is not None else None,
                                                   dropout_rng=dropout_rng, dropout_rate=c.attention_dropout,
                                                   deterministic=deterministic, dtype=self.dtype)
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v)
        return self.out_lin(out.reshape(out.shape[:2] + (c.dim,))), weights


class FlaxFFN(nn.Module):
    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.lin1 = _dense(self.config.hidden_dim, self.config, self.dtype)
        self.lin2 = _dense(self.config.dim, self.config, self.dtype)
        self.dropout = nn.Dropout(rate=self.config.dropout)

    def __call__(self, hidden, deterministic: bool = True):
        return self.dropout(self.lin2(activation(self.config.activation)(self.lin1(hidden))), deterministic=deterministic)


class FlaxTransformerBlock(nn.Module):
    config: DistilBertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.attention = FlaxMultiHeadSelfAttention(self.config, dtype=self.dtype)
        self.sa_layer_norm = nn.LayerNorm(epsilon=NORM_EPS, dtype=self.dtype)
        self.ffn = FlaxFFN(self.config, dtype=self.dtype)
        self.output_layer_norm = nn.LayerNorm(epsilon=NORM_EPS, dtype=self.dtype)

    def __call__(self, hidden, mask, deterministic: bool = True):
        attended, weights = self.attention(hidden, mask, deterministic)
        attended = self.sa_layer_norm(attended + hidden)
        return self.output_layer_norm(self.ffn(attended, deterministic) + attended), weights


class FlaxTransformerLayers(nn.Module):
    """The blocks, named ``0``, ``1``... under ``transformer/layer`` as transformers' Flax DistilBERT names them."""

    config: DistilBertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        block = nn.remat(FlaxTransformerBlock, static_argnums=(3,)) if self.gradient_checkpointing else FlaxTransformerBlock
        self.blocks = [block(self.config, name=str(i), dtype=self.dtype) for i in range(self.config.n_layers)]

    def __call__(self, hidden, mask, deterministic: bool = True):
        states, attentions = [hidden], []
        for block in self.blocks:
            hidden, weights = block(hidden, mask, deterministic)
            states.append(hidden)
            attentions.append(weights)
        return hidden, tuple(states), tuple(attentions)


class FlaxTransformer(nn.Module):
    config: DistilBertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.layer = FlaxTransformerLayers(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)

    def __call__(self, hidden, mask, deterministic: bool = True):
        return self.layer(hidden, mask, deterministic)


class FlaxDistilBertModule(nn.Module):
    """The bare encoder; the call takes the wrapper's arguments (token types and positions are not DistilBERT's)."""

    config: DistilBertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.embeddings = FlaxEmbeddings(self.config, dtype=self.dtype)
        self.transformer = FlaxTransformer(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False):
        hidden = self.embeddings(input_ids, deterministic)
        last, states, attentions = self.transformer(hidden, attention_mask, deterministic)
        out = {"last_hidden_state": last}
        if output_hidden_states:
            out["hidden_states"] = states
        if output_attentions:
            out["attentions"] = attentions
        return out


class FlaxVocabProjector(nn.Module):
    """``vocab_projector``: its ``bias``, and a ``kernel`` only when the config unties it from the word embeddings."""

    config: DistilBertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden, shared_embedding):
        c = self.config
        if c.tie_word_embeddings:
            logits = hidden @ shared_embedding.T.astype(self.dtype)
        else:
            kernel = self.param("kernel", jax.nn.initializers.normal(c.initializer_range), (c.dim, c.vocab_size))
            logits = hidden @ kernel.astype(self.dtype)
        return logits + self.param("bias", jax.nn.initializers.zeros, (c.vocab_size,)).astype(self.dtype)


class FlaxDistilBertHeadModule(nn.Module):
    """The encoder under ``distilbert`` and a head on it; ``kind`` picks which (transformers' layer names each)."""

    config: DistilBertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False
    kind: str = "sequence"  # "mlm", "sequence", "token" or "qa"

    def setup(self) -> None:
        c, dtype = self.config, self.dtype
        self.distilbert = FlaxDistilBertModule(c, dtype=dtype, gradient_checkpointing=self.gradient_checkpointing)
        if self.kind == "mlm":
            self.vocab_transform = _dense(c.dim, c, dtype)
            self.vocab_layer_norm = nn.LayerNorm(epsilon=NORM_EPS, dtype=dtype)
            self.vocab_projector = FlaxVocabProjector(c, dtype=dtype)
        elif self.kind == "sequence":
            self.pre_classifier = _dense(c.dim, c, dtype)
            self.dropout = nn.Dropout(rate=c.seq_classif_dropout)
            self.classifier = _dense(c.num_labels, c, dtype)
        elif self.kind == "token":
            self.dropout = nn.Dropout(rate=c.dropout)
            self.classifier = _dense(c.num_labels, c, dtype)
        else:
            self.dropout = nn.Dropout(rate=c.qa_dropout)
            self.qa_outputs = _dense(c.num_labels, c, dtype)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False):
        out = self.distilbert(input_ids, attention_mask, None, None, deterministic, output_hidden_states, output_attentions)
        hidden = out.pop("last_hidden_state")
        if self.kind == "mlm":
            table = self.distilbert.variables["params"]["embeddings"]["word_embeddings"]["embedding"]
            transformed = self.vocab_layer_norm(activation(self.config.activation)(self.vocab_transform(hidden)))
            return {"logits": self.vocab_projector(transformed, table), **out, "last_hidden_state": hidden}
        if self.kind == "sequence":
            pooled = self.dropout(nn.relu(self.pre_classifier(hidden[:, 0])), deterministic=deterministic)
            return {"logits": self.classifier(pooled), **out}
        if self.kind == "token":
            return {"logits": self.classifier(self.dropout(hidden, deterministic=deterministic)), **out}
        start, end = jnp.split(self.qa_outputs(self.dropout(hidden, deterministic=deterministic)), 2, axis=-1)
        return {"start_logits": start.squeeze(-1), "end_logits": end.squeeze(-1), **out}


class FlaxDistilBertForMaskedLMModule(FlaxDistilBertHeadModule):
    kind: str = "mlm"


class FlaxDistilBertForSequenceClassificationModule(FlaxDistilBertHeadModule):
    kind: str = "sequence"


class FlaxDistilBertForTokenClassificationModule(FlaxDistilBertHeadModule):
    kind: str = "token"


class FlaxDistilBertForQuestionAnsweringModule(FlaxDistilBertHeadModule):
    kind: str = "qa"


class FlaxDistilBertPreTrainedModel(FlaxPreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"

    def dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        return {"input_ids": jnp.zeros(input_shape, dtype="i4"), "attention_mask": jnp.ones(input_shape, dtype="i4")}


class FlaxDistilBertModel(FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertModule


class FlaxDistilBertForMaskedLM(MaskedLMLoss, FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForMaskedLMModule


class FlaxDistilBertForSequenceClassification(SequenceClassificationLoss, FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForSequenceClassificationModule


class FlaxDistilBertForTokenClassification(TokenClassificationLoss, FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForTokenClassificationModule


class FlaxDistilBertForQuestionAnswering(QuestionAnsweringLoss, FlaxDistilBertPreTrainedModel):
    module_class = FlaxDistilBertForQuestionAnsweringModule


#: every class here by transformers' PyTorch architecture name (the adapter's ``architectures()``)
DISTILBERT_CLASSES = {cls.__name__.removeprefix("Flax"): cls for cls in (
    FlaxDistilBertModel, FlaxDistilBertForMaskedLM, FlaxDistilBertForSequenceClassification,
    FlaxDistilBertForTokenClassification, FlaxDistilBertForQuestionAnswering)}
