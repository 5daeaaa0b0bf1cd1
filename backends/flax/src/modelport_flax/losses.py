"""The task heads' losses in JAX: the core's rules (:mod:`modelport.models.losses`) over jax.numpy operations."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from modelport.models.losses import (
    LossOps,
    masked_lm_loss,
    question_answering_loss,
    replaced_token_detection_loss,
    sequence_classification_loss,
    token_classification_loss,
)

__all__ = ["JAX_LOSS_OPS", "SequenceClassificationLoss", "TokenClassificationLoss", "QuestionAnsweringLoss", "MaskedLMLoss",
           "ReplacedTokenDetectionLoss"]

JAX_LOSS_OPS = LossOps(
    log_softmax=lambda x: jax.nn.log_softmax(x, axis=-1),
    take_along_axis=lambda x, idx: jnp.take_along_axis(x, idx, axis=-1),
    where=jnp.where,
    sum=jnp.sum,
    mean=jnp.mean,
    maximum=jnp.maximum,
    clip=jnp.clip,
    softplus=jax.nn.softplus,
    reshape=jnp.reshape,
    to_float=lambda x, like: jnp.asarray(x).astype(like.dtype),
    to_index=lambda x: jnp.asarray(x).astype(jnp.int32),  # JAX runs without 64-bit integers by default
    is_integer=lambda x: bool(jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer)),
    size=lambda x, axis: x.shape[axis],
)


class SequenceClassificationLoss:
    """``labels=`` on a sequence classifier's call adds the loss, its problem type from the config or the labels
    (modelport's addition: transformers' Flax models compute no loss)."""

    loss_inputs = ("labels",)

    def compute_loss(self, outputs: Any, attention_mask: Any, **labels: Any) -> Any:
        return sequence_classification_loss(self.config, outputs["logits"], labels["labels"], JAX_LOSS_OPS)  # type: ignore[attr-defined]


class TokenClassificationLoss:
    """``labels=`` on a token classifier's call adds the loss; labels of -100 add none."""

    loss_inputs = ("labels",)

    def compute_loss(self, outputs: Any, attention_mask: Any, **labels: Any) -> Any:
        return token_classification_loss(self.config, outputs["logits"], labels["labels"], JAX_LOSS_OPS)  # type: ignore[attr-defined]


class QuestionAnsweringLoss:
    """``start_positions=`` and ``end_positions=`` on a question-answering model's call add the loss."""

    loss_inputs = ("start_positions", "end_positions")

    def compute_loss(self, outputs: Any, attention_mask: Any, **labels: Any) -> Any:
        return question_answering_loss(outputs["start_logits"], outputs["end_logits"], labels["start_positions"],
                                       labels["end_positions"], JAX_LOSS_OPS)


class MaskedLMLoss:
    """``labels=`` on a masked language model's call adds the loss; labels of -100 (unmasked positions) add none."""

    loss_inputs = ("labels",)

    def compute_loss(self, outputs: Any, attention_mask: Any, **labels: Any) -> Any:
        return masked_lm_loss(self.config, outputs["logits"], labels["labels"], JAX_LOSS_OPS)  # type: ignore[attr-defined]


class ReplacedTokenDetectionLoss:
    """``labels=`` (1 = replaced) on ELECTRA's discriminator adds the binary cross-entropy over the tokens the
    attention mask keeps."""

    loss_inputs = ("labels",)

    def compute_loss(self, outputs: Any, attention_mask: Any, **labels: Any) -> Any:
        return replaced_token_detection_loss(outputs["logits"], labels["labels"], attention_mask, JAX_LOSS_OPS)
