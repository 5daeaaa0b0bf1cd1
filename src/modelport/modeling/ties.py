"""Which checkpoint tensors are copies of another (tied weights) or values a model computes (buffers).

A weight is *derived* only when the architecture and its config say so:
``GPT2LMHeadModel``'s ``lm_head.weight`` is the token embedding only while
``config.tie_word_embeddings`` is true. An untied head is a weight like any
other, loaded into a real, separate head. Facts are registered per
architecture (PyTorch class name), in canonical names, by the module that
defines the architecture's config, so every adapter and the converter read
the same record.

A checkpoint may still store a derived tensor (``.bin`` files keep both
names) or a buffer a model computes (``position_ids``, GPT-2's causal
``attn.bias``). Such a tensor is never dropped on trust: it is *proven*
redundant (the same storage, equal values, or the value the model computes)
or it is reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["TiedWeights", "register_ties", "tied_weights", "register_computed_buffer", "computed_buffer", "register_base_model",
           "base_model_prefix"]


@dataclass(frozen=True)
class TiedWeights:
    """The ties of one architecture, in canonical names (derived name -> the weight it copies)."""

    #: tied while the config's ``flag`` is true (output embeddings onto input embeddings)
    when_flag: Mapping[str, str] = field(default_factory=dict)
    #: tied whatever the config says (BERT's decoder bias is its head's bias)
    always: Mapping[str, str] = field(default_factory=dict)
    flag: str = "tie_word_embeddings"


_TIES: dict[str, TiedWeights] = {}


def register_ties(architecture: str, ties: TiedWeights) -> None:
    """Record the ties of ``architecture`` (a PyTorch class name such as ``GPT2LMHeadModel``)."""
    _TIES[architecture] = ties


def tied_weights(architecture: str, config: Any) -> dict[str, str]:
    """The ties active for ``architecture`` under ``config``: derived canonical name -> the name it copies.

    ``TF``/``Flax`` class-name prefixes are ignored; an unregistered architecture has no ties.
    """
    ties = _TIES.get(_pytorch_name(architecture))
    if ties is None:
        return {}
    active = dict(ties.always)
    if getattr(config, ties.flag, True):
        active.update(ties.when_flag)
    return active


def _pytorch_name(architecture: str) -> str:
    for prefix in ("TF", "Flax"):
        if architecture.startswith(prefix) and architecture[len(prefix):] in (_TIES.keys() | _BASE_MODELS.keys()):
            return architecture[len(prefix):]
    return architecture


# -- base models: whose PyTorch names carry no prefix, while TF's main layer still names it -------------
_BASE_MODELS: dict[str, str] = {}


def register_base_model(architecture: str, prefix: str) -> None:
    """Record that ``architecture`` (``BertModel``) is a bare base model whose weights PyTorch names without
    ``prefix`` (``bert``), while TF checkpoints of it name them under its main layer (``bert/...``)."""
    _BASE_MODELS[architecture] = prefix


def base_model_prefix(config: Any) -> str:
    """The prefix a TF checkpoint of ``config``'s architecture carries and a PyTorch one does not ("" if none):
    what converting to PyTorch by names alone (no adapter to build the model) must drop."""
    names = list(getattr(config, "architectures", None) or [])
    return _BASE_MODELS.get(_pytorch_name(names[0]), "") if names else ""


# -- buffers a model computes instead of loading -------------------------------------------------------
_BUFFERS: dict[str, list[tuple[re.Pattern[str], Callable[[np.ndarray], bool]]]] = {}


def register_computed_buffer(model_type: str, pattern: str, matches: Callable[[np.ndarray], bool]) -> None:
    """Declare that ``model_type``'s models compute the buffers whose canonical names match ``pattern``
    (a regex, searched), and how to check that a stored value is the computed one."""
    _BUFFERS.setdefault(model_type, []).append((re.compile(pattern), matches))


def computed_buffer(model_type: str, canonical: str) -> Callable[[np.ndarray], bool] | None:
    """The check for a stored copy of a buffer ``model_type``'s models compute, or None when it is no such buffer."""
    for pattern, matches in _BUFFERS.get(model_type, ()):
        if pattern.search(canonical):
            return matches
    return None


_COMPUTED_WEIGHTS: dict[str, list[tuple[str, str, str]]] = {}


def register_computed_weight(model_type: str, pattern: str, kind: str, when: str) -> None:
    """Declare that ``model_type``'s models compute the weight whose canonical name matches ``pattern`` (a regex,
    searched) when ``config.<when>`` is true: a checkpoint without it (a framework that never stores it) misses
    nothing, and a target that stores it gets the value kind ``kind``
    (:data:`modelport.conversion.architectures.VALUE_KINDS`)."""
    _COMPUTED_WEIGHTS.setdefault(model_type, []).append((pattern, kind, when))


def computed_weights(model_type: str, config: Any) -> dict[str, str]:
    """Canonical-name regex -> value kind of the weights ``model_type``'s models compute under ``config``."""
    return {pattern: kind for pattern, kind, when in _COMPUTED_WEIGHTS.get(model_type, ()) if getattr(config, when, False)}


def is_position_ids(array: np.ndarray) -> bool:
    """``[0, 1, 2, ...]`` along the last axis (transformers' ``position_ids`` buffers, ``[1, n]``)."""
    if array.ndim == 0 or not np.issubdtype(array.dtype, np.integer):
        return False
    return bool(np.array_equal(array, np.broadcast_to(np.arange(array.shape[-1]), array.shape)))


def is_zeros(array: np.ndarray) -> bool:
    """All zeros (BERT's ``token_type_ids`` buffer)."""
    return not np.any(array)


def is_causal_mask(array: np.ndarray) -> bool:
    """A lower-triangular matrix of ones over the last two axes (GPT-2's ``attn.bias`` buffer)."""
    if array.ndim < 2 or array.shape[-1] != array.shape[-2]:
        return False
    n = array.shape[-1]
    return bool(np.array_equal(array.astype(bool), np.broadcast_to(np.tri(n, dtype=bool), array.shape)))


def is_masked_bias(array: np.ndarray) -> bool:
    """GPT-2's ``attn.masked_bias``: the scalar -1e4."""
    return array.size == 1 and float(np.asarray(array, dtype=np.float64).reshape(-1)[0]) == -1e4
