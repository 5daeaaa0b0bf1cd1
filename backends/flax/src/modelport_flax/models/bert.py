"""BERT in Flax linen with transformers 4.x's parameter tree and outputs."""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from modelport import BertConfig
from modelport.models.encoders import classifier_dropout_rate

from ..losses import MaskedLMLoss, QuestionAnsweringLoss, SequenceClassificationLoss, TokenClassificationLoss
from ..modeling import FlaxPreTrainedModel, activation, attention_bias

__all__ = ["BERT_CLASSES", "FlaxBertModel", "FlaxBertForMaskedLM", "FlaxBertForSequenceClassification", "FlaxBertForTokenClassification",
           "FlaxBertForQuestionAnswering"]


def _dense(features: int, config: BertConfig, dtype: Any, **kwargs: Any) -> nn.Dense:
    return nn.Dense(features, dtype=dtype, kernel_init=jax.nn.initializers.normal(config.initializer_range), **kwargs)


class FlaxBertEmbeddings(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    width_attribute: ClassVar[str] = "hidden_size"  # the config attribute giving the width (ALBERT, ELECTRA: embedding_size)

    def setup(self) -> None:
        c, width = self.config, getattr(self.config, self.width_attribute)
        init = jax.nn.initializers.normal(c.initializer_range)
        self.word_embeddings = nn.Embed(c.vocab_size, width, embedding_init=init, dtype=self.dtype)
        self.position_embeddings = nn.Embed(c.max_position_embeddings, width, embedding_init=init, dtype=self.dtype)
        self.token_type_embeddings = nn.Embed(c.type_vocab_size, width, embedding_init=init, dtype=self.dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.hidden_dropout_prob)

    def positions(self, input_ids):
        """``0..length-1`` for every row."""
        return jnp.broadcast_to(jnp.arange(input_ids.shape[-1]), input_ids.shape)

    def __call__(self, input_ids, token_type_ids, position_ids, deterministic: bool = True):
        x = self.word_embeddings(input_ids.astype("i4")) + self.position_embeddings(position_ids.astype("i4"))
        x = x + self.token_type_embeddings(token_type_ids.astype("i4"))
        return self.dropout(self.LayerNorm(x), deterministic=deterministic)


class FlaxBertSelfAttention(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.head_dim = self.config.hidden_size // self.config.num_attention_heads
        self.query = _dense(self.config.hidden_size, self.config, self.dtype)
        self.key = _dense(self.config.hidden_size, self.config, self.dtype)
        self.value = _dense(self.config.hidden_size, self.config, self.dtype)

    def __call__(self, hidden, mask, deterministic: bool = True):
        heads = lambda x: x.reshape(x.shape[:2] + (self.config.num_attention_heads, self.head_dim))  # noqa: E731
        q, k, v = heads(self.query(hidden)), heads(self.key(hidden)), heads(self.value(hidden))
        bias = attention_bias(mask, self.dtype) if mask is not None else None
        dropout_rng = None if deterministic or self.config.attention_probs_dropout_prob == 0 else self.make_rng("dropout")
        weights = nn.dot_product_attention_weights(
            q,
            k,
            bias=bias,
            dropout_rng=dropout_rng,
            dropout_rate=self.config.attention_probs_dropout_prob,
            deterministic=deterministic,
            dtype=self.dtype,
        )
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v)
        return out.reshape(out.shape[:2] + (self.config.hidden_size,)), weights


class FlaxBertSelfOutput(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.hidden_size, self.config, self.dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.hidden_dropout_prob)

    def __call__(self, hidden, residual, deterministic: bool = True):
        return self.LayerNorm(self.dropout(self.dense(hidden), deterministic=deterministic) + residual)


class FlaxBertAttention(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.self = FlaxBertSelfAttention(self.config, dtype=self.dtype)
        self.output = FlaxBertSelfOutput(self.config, dtype=self.dtype)

    def __call__(self, hidden, mask, deterministic: bool = True):
        context, weights = self.self(hidden, mask, deterministic)
        return self.output(context, hidden, deterministic), weights


class FlaxBertIntermediate(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.intermediate_size, self.config, self.dtype)

    def __call__(self, hidden):
        return activation(self.config.hidden_act)(self.dense(hidden))


class FlaxBertOutput(FlaxBertSelfOutput):
    pass


class FlaxBertLayer(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.attention = FlaxBertAttention(self.config, dtype=self.dtype)
        self.intermediate = FlaxBertIntermediate(self.config, dtype=self.dtype)
        self.output = FlaxBertOutput(self.config, dtype=self.dtype)

    def __call__(self, hidden, mask, deterministic: bool = True):
        attended, weights = self.attention(hidden, mask, deterministic)
        return self.output(self.intermediate(attended), attended, deterministic), weights


class FlaxBertLayerCollection(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        block = nn.remat(FlaxBertLayer, static_argnums=(3,)) if self.gradient_checkpointing else FlaxBertLayer
        self.layers = [block(self.config, name=str(i), dtype=self.dtype) for i in range(self.config.num_hidden_layers)]

    def __call__(self, hidden, mask, deterministic: bool = True):
        states, attentions = [hidden], []
        for layer in self.layers:
            hidden, weights = layer(hidden, mask, deterministic)
            states.append(hidden)
            attentions.append(weights)
        return hidden, tuple(states), tuple(attentions)


class FlaxBertEncoder(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.layer = FlaxBertLayerCollection(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)

    def __call__(self, hidden, mask, deterministic: bool = True):
        return self.layer(hidden, mask, deterministic)


class FlaxBertPooler(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.hidden_size, self.config, self.dtype)

    def __call__(self, hidden):
        return nn.tanh(self.dense(hidden[:, 0]))


class FlaxBertModule(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    add_pooling_layer: bool = True
    gradient_checkpointing: bool = False

    embeddings_class: ClassVar[type[nn.Module]] = FlaxBertEmbeddings
    encoder_class: ClassVar[type[nn.Module]] = FlaxBertEncoder  # (hidden, mask, deterministic) -> (last, states, attentions)

    def setup(self) -> None:
        self.embeddings = self.embeddings_class(self.config, dtype=self.dtype)
        self.encoder = self.encoder_class(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        if self.add_pooling_layer:
            self.pooler = self.make_pooler()

    def make_pooler(self) -> nn.Module:
        return FlaxBertPooler(self.config, dtype=self.dtype)

    def pool(self, last):
        """``pooler_output`` from the last hidden state."""
        return self.pooler(last)

    def embed(self, input_ids, token_type_ids, position_ids, deterministic: bool = True):
        """The encoder's input (ELECTRA projects the embeddings to the hidden size here)."""
        return self.embeddings(input_ids, token_type_ids, position_ids, deterministic)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False):
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        if position_ids is None:
            position_ids = self.embeddings.positions(input_ids)
        hidden = self.embed(input_ids, token_type_ids, position_ids, deterministic)
        last, states, attentions = self.encoder(hidden, attention_mask, deterministic)
        out = {"last_hidden_state": last}
        if self.add_pooling_layer:
            out["pooler_output"] = self.pool(last)
        if output_hidden_states:
            out["hidden_states"] = states
        if output_attentions:
            out["attentions"] = attentions
        return out


class FlaxBertForMaskedLMModule(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    prefix: ClassVar[str] = "bert"  # the encoder's name in the parameter tree
    base_module: ClassVar[type[nn.Module]] = FlaxBertModule
    head_name: ClassVar[str] = "cls"

    def setup(self) -> None:
        setattr(self, self.prefix, self.base_module(self.config, dtype=self.dtype, add_pooling_layer=False,
                                                    gradient_checkpointing=self.gradient_checkpointing))
        setattr(self, self.head_name, self.make_head())

    def make_head(self) -> nn.Module:
        return FlaxBertOnlyMLMHead(self.config, dtype=self.dtype)

    def head_logits(self, hidden, shared_embedding):
        return getattr(self, self.head_name)(hidden, shared_embedding)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False):
        encoder = getattr(self, self.prefix)
        out = encoder(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_hidden_states, output_attentions)
        hidden = out.pop("last_hidden_state")
        logits = self.head_logits(hidden, encoder.variables["params"]["embeddings"]["word_embeddings"]["embedding"])
        # transformers' fields first; last_hidden_state is modelport's addition, after them
        return {"logits": logits, **out, "last_hidden_state": hidden}


class FlaxBertForHeadModule(nn.Module):
    """The encoder under ``prefix`` and a head (``head_name``; one dense layer) on its pooled or per-token output."""

    config: BertConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False
    pooled: bool = False
    head_name: str = "classifier"
    head_dropout: bool = True  # dropout before the dense layer (question answering has none)
    spans: bool = False  # two outputs a token: an answer's start and end logits

    prefix: ClassVar[str] = "bert"  # the encoder's name in the parameter tree
    base_module: ClassVar[type[nn.Module]] = FlaxBertModule

    def setup(self) -> None:
        c = self.config
        setattr(self, self.prefix, self.base_module(c, dtype=self.dtype, add_pooling_layer=self.pooled,
                                                    gradient_checkpointing=self.gradient_checkpointing))
        self.dropout = nn.Dropout(rate=classifier_dropout_rate(c))
        setattr(self, self.head_name, self.make_head())  # linen names it after the attribute

    def make_head(self) -> nn.Module:
        return _dense(self.config.num_labels, self.config, self.dtype)

    def apply_head(self, features, deterministic: bool):
        if self.head_dropout:
            features = self.dropout(features, deterministic=deterministic)
        return getattr(self, self.head_name)(features)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, deterministic: bool = True,
                 output_hidden_states: bool = False, output_attentions: bool = False):
        out = getattr(self, self.prefix)(input_ids, attention_mask, token_type_ids, position_ids, deterministic,
                                         output_hidden_states, output_attentions)
        features = out.pop("pooler_output") if self.pooled else out.pop("last_hidden_state")
        logits = self.apply_head(features, deterministic)
        if self.spans:
            start, end = jnp.split(logits, 2, axis=-1)
            return {"start_logits": start.squeeze(-1), "end_logits": end.squeeze(-1), **_states(out)}
        return {"logits": logits, **_states(out)}


def _states(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if k in ("hidden_states", "attentions")}


class FlaxBertForSequenceClassificationModule(FlaxBertForHeadModule):
    pooled: bool = True


class FlaxBertForTokenClassificationModule(FlaxBertForHeadModule):
    pass


class FlaxBertForQuestionAnsweringModule(FlaxBertForHeadModule):
    head_name: str = "qa_outputs"
    head_dropout: bool = False
    spans: bool = True


class FlaxBertPredictionHeadTransform(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.hidden_size, self.config, self.dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype)

    def __call__(self, hidden):
        return self.LayerNorm(activation(self.config.hidden_act)(self.dense(hidden)))


class FlaxBertLMPredictionHead(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.transform = FlaxBertPredictionHeadTransform(self.config, dtype=self.dtype)
        if not self.config.tie_word_embeddings:  # an untied decoder of its own (cls/predictions/decoder/kernel)
            self.decoder = _dense(self.config.vocab_size, self.config, self.dtype, use_bias=False)
        self.bias = self.param("bias", jax.nn.initializers.zeros, (self.config.vocab_size,))

    def __call__(self, hidden, shared_embedding):
        hidden = self.transform(hidden)
        if self.config.tie_word_embeddings:  # the decoder is the word embedding matrix, transposed
            logits = hidden @ shared_embedding.T.astype(self.dtype)
        else:
            logits = self.decoder(hidden)
        return logits + self.bias.astype(self.dtype)


class FlaxBertOnlyMLMHead(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.predictions = FlaxBertLMPredictionHead(self.config, dtype=self.dtype)

    def __call__(self, hidden, shared_embedding):
        return self.predictions(hidden, shared_embedding)


class FlaxBertPreTrainedModel(FlaxPreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"

    def dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        return {"input_ids": jnp.zeros(input_shape, dtype="i4"), "attention_mask": jnp.ones(input_shape, dtype="i4")}


class FlaxBertModel(FlaxBertPreTrainedModel):
    module_class = FlaxBertModule


class FlaxBertForMaskedLM(MaskedLMLoss, FlaxBertPreTrainedModel):
    module_class = FlaxBertForMaskedLMModule


class FlaxBertForSequenceClassification(SequenceClassificationLoss, FlaxBertPreTrainedModel):
    """A classifier (or regressor) on the pooled first token; ``labels=`` adds the loss."""

    module_class = FlaxBertForSequenceClassificationModule


class FlaxBertForTokenClassification(TokenClassificationLoss, FlaxBertPreTrainedModel):
    module_class = FlaxBertForTokenClassificationModule


class FlaxBertForQuestionAnswering(QuestionAnsweringLoss, FlaxBertPreTrainedModel):
    module_class = FlaxBertForQuestionAnsweringModule


#: BERT's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
BERT_CLASSES = {cls.__name__.removeprefix("Flax"): cls for cls in (
    FlaxBertModel, FlaxBertForMaskedLM, FlaxBertForSequenceClassification, FlaxBertForTokenClassification, FlaxBertForQuestionAnswering)}
