"""The task heads' losses, written once for every framework, as transformers 4.x's PyTorch classes compute them.

A head gives its logits and labels to one of the functions here with its
framework's :class:`LossOps` (``TORCH_LOSS_OPS``, ``JAX_LOSS_OPS``,
``TF_LOSS_OPS`` in the adapters; :data:`NUMPY_LOSS_OPS` for the core's tests).
The rules are transformers' PyTorch ones, so a loss is the same number in all
three frameworks:

* sequence classification chooses the problem from the config, or from the
  labels when ``config.problem_type`` is unset, and records its choice in the
  config as transformers does (:func:`problem_type`): regression (mean squared
  error), single-label (cross-entropy) or multi-label (binary cross-entropy on
  each label's logit);
* token classification (and masked language modelling, over the vocabulary)
  is cross-entropy over the positions whose label is not ``-100``;
* replaced-token detection (ELECTRA's discriminator) is binary cross-entropy
  on each token's logit, over the tokens the attention mask keeps;
* question answering averages the start and end cross-entropies, positions
  clamped to the sequence so that an answer outside it is ignored.

One difference is deliberate: a batch whose every label is ignored has loss 0
here (and zero gradients), where PyTorch's mean over no positions is NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["LossOps", "NUMPY_LOSS_OPS", "IGNORE_INDEX", "PROBLEM_TYPES", "problem_type", "cross_entropy",
           "sequence_classification_loss", "token_classification_loss", "question_answering_loss",
           "masked_lm_loss", "replaced_token_detection_loss"]

Array = Any

IGNORE_INDEX = -100  # transformers' label for "no loss here" (padding, sub-word continuations)
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


@dataclass(frozen=True)
class LossOps:
    """The array operations the losses need, from one framework (arithmetic and comparisons are the arrays' own)."""

    log_softmax: Callable[[Array], Array]  # over the last axis
    take_along_axis: Callable[[Array, Array], Array]  # along the last axis
    where: Callable[[Array, Array, Array], Array]
    sum: Callable[[Array], Array]  # of every element
    mean: Callable[[Array], Array]  # of every element
    maximum: Callable[[Array, Any], Array]
    clip: Callable[[Array, Any, Any], Array]
    softplus: Callable[[Array], Array]
    reshape: Callable[[Array, tuple[int, ...]], Array]
    to_float: Callable[[Array, Array], Array]  # the first in the second's floating dtype
    to_index: Callable[[Array], Array]  # integers usable as indices
    is_integer: Callable[[Array], bool]
    size: Callable[[Array, int], Any]  # one axis' length (a tensor under tracing)


NUMPY_LOSS_OPS = LossOps(
    log_softmax=lambda x: x - np.max(x, -1, keepdims=True) - np.log(np.sum(np.exp(x - np.max(x, -1, keepdims=True)), -1,
                                                                        keepdims=True)),
    take_along_axis=lambda x, idx: np.take_along_axis(x, idx, axis=-1),
    where=np.where,
    sum=np.sum,
    mean=np.mean,
    maximum=np.maximum,
    clip=np.clip,
    softplus=lambda x: np.logaddexp(0.0, x),
    reshape=np.reshape,
    to_float=lambda x, like: np.asarray(x, dtype=like.dtype),
    to_index=lambda x: np.asarray(x, dtype=np.int64),
    is_integer=lambda x: np.issubdtype(np.asarray(x).dtype, np.integer),
    size=lambda x, axis: x.shape[axis],
)


def problem_type(config: Any, labels: Array, ops: LossOps) -> str:
    """``config.problem_type``, or transformers' choice when it is unset (then stored in the config, as transformers
    does): one label is regression; several with integer labels single-label; several with float labels multi-label."""
    kind = getattr(config, "problem_type", None)
    if kind is None:
        if config.num_labels == 1:
            kind = "regression"
        elif ops.is_integer(labels):
            kind = "single_label_classification"
        else:
            kind = "multi_label_classification"
        config.problem_type = kind
    if kind not in PROBLEM_TYPES:
        raise ConfigError("config.problem_type is not understood", where="config.json", expected=" or ".join(PROBLEM_TYPES),
                          received=kind, fix="Set problem_type to one of those, or remove it to let the labels decide.")
    return kind


def cross_entropy(logits: Array, labels: Array, ops: LossOps, ignore_index: Any = IGNORE_INDEX) -> Array:
    """Mean negative log-likelihood of ``labels`` (``[n]``) under ``logits`` (``[n, classes]``), over the labels that
    are not ``ignore_index``."""
    labels = ops.to_index(labels)
    kept = labels != ignore_index
    safe = ops.where(kept, labels, labels * 0)  # any valid class; its term is masked out
    picked = ops.reshape(ops.take_along_axis(ops.log_softmax(logits), ops.reshape(safe, (-1, 1))), (-1,))
    weight = ops.to_float(kept, picked)
    return -ops.sum(picked * weight) / ops.maximum(ops.sum(weight), 1.0)


def sequence_classification_loss(config: Any, logits: Array, labels: Array, ops: LossOps) -> Array:
    """Loss of ``logits`` ``[batch, num_labels]`` against ``labels``, by :func:`problem_type`."""
    kind = problem_type(config, labels, ops)
    if kind == "regression":
        target = ops.to_float(labels, logits)
        if config.num_labels == 1:  # transformers squeezes both: [batch, 1] logits against [batch] labels
            logits, target = ops.reshape(logits, (-1,)), ops.reshape(target, (-1,))
        return ops.mean((logits - target) ** 2)
    if kind == "single_label_classification":
        return cross_entropy(ops.reshape(logits, (-1, config.num_labels)), ops.reshape(labels, (-1,)), ops)
    target = ops.to_float(labels, logits)  # multi-label: one sigmoid per label, as BCEWithLogitsLoss
    return ops.mean(ops.softplus(logits) - logits * target)


def masked_lm_loss(config: Any, logits: Array, labels: Array, ops: LossOps) -> Array:
    """Cross-entropy of ``logits`` ``[batch, length, vocab_size]`` over the positions whose label is not -100."""
    return cross_entropy(ops.reshape(logits, (-1, config.vocab_size)), ops.reshape(labels, (-1,)), ops)


def replaced_token_detection_loss(logits: Array, labels: Array, attention_mask: Array | None, ops: LossOps) -> Array:
    """Binary cross-entropy of ``logits`` ``[batch, length]`` (a token was replaced) against 0/1 ``labels``, averaged
    over the positions where ``attention_mask`` is 1 (every position without a mask)."""
    target = ops.to_float(labels, logits)
    per_token = ops.softplus(logits) - logits * target
    if attention_mask is None:
        return ops.mean(per_token)
    kept = ops.to_float(attention_mask == 1, logits)
    return ops.sum(per_token * kept) / ops.maximum(ops.sum(kept), 1.0)


def token_classification_loss(config: Any, logits: Array, labels: Array, ops: LossOps) -> Array:
    """Cross-entropy of ``logits`` ``[batch, length, num_labels]`` over the positions whose label is not -100."""
    return cross_entropy(ops.reshape(logits, (-1, config.num_labels)), ops.reshape(labels, (-1,)), ops)


def question_answering_loss(start_logits: Array, end_logits: Array, start_positions: Array, end_positions: Array,
                            ops: LossOps) -> Array:
    """The mean of the start and end cross-entropies over ``[batch, length]`` logits. Positions are clamped to
    ``[0, length]`` and ``length`` is ignored, so an answer cut off by truncation adds no loss."""
    length = ops.size(start_logits, 1)
    losses = []
    for logits, positions in ((start_logits, start_positions), (end_logits, end_positions)):
        positions = ops.clip(ops.reshape(ops.to_index(positions), (-1,)), 0, length)
        losses.append(cross_entropy(logits, positions, ops, ignore_index=length))
    return (losses[0] + losses[1]) / 2
