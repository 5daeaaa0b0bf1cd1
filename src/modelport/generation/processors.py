"""Logits processors and warpers, written once over the few array operations each framework passes in (:class:`ArrayOps`).

Each processor takes the token ids so far and the next token's scores
(``[batch, vocab]``, float32) and returns new scores, as transformers 4.57.6's do.
The ids may be a fixed-size buffer of which only the first ``length`` columns
are written (JAX and TF decode into one buffer of the final size, under a
compiler that needs static shapes), so no processor reads past ``length``, and
``length`` may be a traced scalar there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .config import FIELDS, GenerationConfig

__all__ = ["ArrayOps", "NUMPY_OPS", "LogitsProcessor", "RepetitionPenalty", "NoRepeatNGram", "MinLength", "Temperature", "TopK",
           "TopP", "logits_processors", "UNSUPPORTED_FIELDS"]

Array = Any


@dataclass(frozen=True)
class ArrayOps:
    """The operations the processors need, as one framework spells them (the adapters register theirs)."""

    where: Callable[[Array, Array, Array], Array]
    take_along_axis: Callable[[Array, Array], Array]  # x[b, idx[b, j]] over the last axis
    put_along_axis: Callable[[Array, Array, Array], Array]  # a copy of x with x[b, idx[b, j]] = values[b, j]
    sort_ascending: Callable[[Array], tuple[Array, Array]]  # (values, indices) along the last axis
    top_k_values: Callable[[Array, int], Array]  # the k largest along the last axis, largest first
    softmax: Callable[[Array], Array]  # along the last axis
    cumsum: Callable[[Array], Array]  # along the last axis
    arange: Callable[[int], Array]  # int32 0..n-1
    one_hot: Callable[[Array, int], Array]  # [..., n], nonzero at each id
    invert_permutation: Callable[[Array, Array], Array]  # put sorted values back: x[b, idx[b, j]] = sorted[b, j]
    any_over: Callable[[Array, int], Array]  # logical or along an axis
    # for beam search (.beam_search)
    all_over: Callable[[Array, int], Array]
    min_over: Callable[[Array, int], Array]
    top_k: Callable[[Array, int], tuple[Array, Array]]  # (values, indices) of the k largest, largest first
    full: Callable[[tuple[int, ...], Any, str], Array]
    reshape: Callable[[Array, tuple[int, ...]], Array]
    concat: Callable[[list[Array], int], Array]
    gather_beams: Callable[[Array, Array], Array]  # x[b, idx[b, j], ...] for x of any rank >= 2
    set_prefix: Callable[[Array, Array], Array]  # a copy of x with x[..., :n] = prefix
    set_column: Callable[[Array, int, Array], Array]  # a copy of x [b, k, n] with x[:, :, column] = values [b, k]
    asarray: Callable[[np.ndarray], Array]  # a numpy constant as the framework's array
    neg_inf: float = float("-inf")


NUMPY_OPS = ArrayOps(
    where=np.where,
    take_along_axis=lambda x, idx: np.take_along_axis(x, idx, axis=-1),
    put_along_axis=lambda x, idx, values: _numpy_put(x, idx, values),
    sort_ascending=lambda x: (np.sort(x, axis=-1, kind="stable"), np.argsort(x, axis=-1, kind="stable")),
    top_k_values=lambda x, k: -np.sort(-x, axis=-1)[..., :k],
    softmax=lambda x: _numpy_softmax(x),
    cumsum=lambda x: np.cumsum(x, axis=-1),
    arange=lambda n: np.arange(n, dtype=np.int32),
    one_hot=lambda ids, n: (np.asarray(ids)[..., None] == np.arange(n)).astype(np.float32),
    invert_permutation=lambda sorted_values, idx: _numpy_put(np.empty_like(sorted_values), idx, sorted_values),
    any_over=lambda x, axis: np.any(x, axis=axis),
    all_over=lambda x, axis: np.all(x, axis=axis),
    min_over=lambda x, axis: np.min(x, axis=axis),
    top_k=lambda x, k: _numpy_top_k(x, k),
    full=lambda shape, value, dtype: np.full(shape, value, dtype=dtype),
    reshape=np.reshape,
    concat=lambda arrays, axis: np.concatenate(arrays, axis=axis),
    gather_beams=lambda x, idx: np.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=1),
    set_prefix=lambda x, prefix: _numpy_set(x, (..., slice(0, prefix.shape[-1])), prefix),
    set_column=lambda x, column, values: _numpy_set(x, (slice(None), slice(None), column), values),
    asarray=np.asarray,
)


def _numpy_top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    indices = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, indices, axis=-1), indices


def _numpy_set(x: np.ndarray, where: Any, values: np.ndarray) -> np.ndarray:
    out = np.array(x, copy=True)
    out[where] = values
    return out


def _numpy_put(x: np.ndarray, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.array(x, copy=True)
    np.put_along_axis(out, idx, values, axis=-1)
    return out


def _numpy_softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return shifted / np.sum(shifted, axis=-1, keepdims=True)


class LogitsProcessor:
    """``processor(ids, scores, length, ops)`` -> scores; ``ids`` holds ``length`` tokens per row (or more, unwritten)."""

    def __call__(self, ids: Array, scores: Array, length: Any, ops: ArrayOps) -> Array:
        raise NotImplementedError


@dataclass(frozen=True)
class RepetitionPenalty(LogitsProcessor):
    """Tokens already in the sequence: positive scores divided by ``penalty``, negative ones multiplied."""

    penalty: float

    def __call__(self, ids: Array, scores: Array, length: Any, ops: ArrayOps) -> Array:
        if not (isinstance(length, int) and length == ids.shape[-1]):
            # unwritten columns repeat the row's first token: penalised once, like any repeat
            ids = ops.where(ops.arange(ids.shape[-1])[None, :] < length, ids, ids[:, :1])
        seen = ops.take_along_axis(scores, ids)
        return ops.put_along_axis(scores, ids, ops.where(seen < 0, seen * self.penalty, seen / self.penalty))


@dataclass(frozen=True)
class NoRepeatNGram(LogitsProcessor):
    """A token that would repeat an n-gram already in the row gets ``-inf``."""

    size: int

    def __call__(self, ids: Array, scores: Array, length: Any, ops: ArrayOps) -> Array:
        n = self.size
        columns = ids.shape[-1]
        if isinstance(length, int) and length + 1 < n:
            return scores
        starts = columns - n + 1  # every window start the buffer could hold
        if starts <= 0:
            return scores
        prefix = _gather_last(ids, length, n - 1, ops)  # the n-1 tokens that end the row: [batch, n-1]
        matches = None
        for offset in range(n - 1):
            equal = ids[:, offset:offset + starts] == prefix[:, offset:offset + 1]
            matches = equal if matches is None else matches & equal
        window_starts = ops.arange(starts)[None, :]
        if matches is None:  # unigrams: every written token is banned
            matches = window_starts >= 0
        complete = window_starts + n <= length  # the window and the token after it were written
        matches = matches & complete
        followers = ids[:, n - 1:n - 1 + starts]
        banned = ops.any_over((ops.one_hot(followers, scores.shape[-1]) > 0) & matches[..., None], 1)
        return ops.where(banned, ops.neg_inf, scores)


def _gather_last(ids: Array, length: Any, count: int, ops: ArrayOps) -> Array:
    """The ``count`` tokens before column ``length`` of each row."""
    positions = ops.arange(count)[None, :] + (length - count)
    positions = ops.where(positions < 0, 0, positions)
    return ops.take_along_axis(ids, positions + ids[:, :count] * 0)


@dataclass(frozen=True)
class MinLength(LogitsProcessor):
    """The end-of-sequence tokens get ``-inf`` while the row is shorter than ``min_length`` (counted from ``start``)."""

    min_length: int
    eos_token_ids: tuple[int, ...]
    start: int = 0  # min_new_tokens counts from the prompt's length

    def __call__(self, ids: Array, scores: Array, length: Any, ops: ArrayOps) -> Array:
        vocab = ops.arange(scores.shape[-1])[None, :]
        is_eos = vocab < 0
        for eos in self.eos_token_ids:
            is_eos = is_eos | (vocab == eos)
        too_short = (length - self.start) < self.min_length
        return ops.where(is_eos & too_short, ops.neg_inf, scores)


@dataclass(frozen=True)
class Temperature(LogitsProcessor):
    temperature: float

    def __call__(self, ids: Array, scores: Array, length: Any, ops: ArrayOps) -> Array:
        return scores / self.temperature


@dataclass(frozen=True)
class TopK(LogitsProcessor):
    """Only the ``top_k`` highest scores (at least ``min_tokens_to_keep``) stay; ties with the k-th stay too."""

    top_k: int
    min_tokens_to_keep: int = 1

    def __call__(self, ids: Array, scores: Array, length: Any, ops: ArrayOps) -> Array:
        k = min(max(self.top_k, self.min_tokens_to_keep), scores.shape[-1])
        kth = ops.top_k_values(scores, k)[..., -1:]
        return ops.where(scores < kth, ops.neg_inf, scores)


@dataclass(frozen=True)
class TopP(LogitsProcessor):
    """Nucleus sampling: the smallest set of highest-probability tokens whose mass exceeds ``top_p`` stays.

    Computed as transformers does, from the ascending end: a token goes when the
    mass up to and including it is at most ``1 - top_p``, so that float sums round
    the same way and the same tokens stay.
    """

    top_p: float
    min_tokens_to_keep: int = 1

    def __call__(self, ids: Array, scores: Array, length: Any, ops: ArrayOps) -> Array:
        ascending, order = ops.sort_ascending(scores)
        mass = ops.cumsum(ops.softmax(ascending))
        columns = ops.arange(scores.shape[-1])[None, :]
        remove = (mass <= 1 - self.top_p) & (columns < scores.shape[-1] - self.min_tokens_to_keep)
        return ops.where(ops.invert_permutation(remove, order), ops.neg_inf, scores)


#: fields modelport's generate() does not implement: a config that sets one (to anything but None or its default, the
#: values at which it does nothing) is refused by name rather than silently decoded without it
UNSUPPORTED_FIELDS = ("min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "encoder_repetition_penalty", "bad_words_ids",
                      "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
                      "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "sequence_bias",
                      "guidance_scale", "watermarking_config", "renormalize_logits", "token_healing", "stop_strings",
                      "max_time", "penalty_alpha", "dola_layers", "diversity_penalty", "num_beam_groups", "constraints",
                      "force_words_ids", "prompt_lookup_num_tokens", "low_memory", "encoder_no_repeat_ngram_size")


def refuse_unsupported(config: GenerationConfig) -> None:
    """Refuse settings modelport does not decode with (they would otherwise be ignored without a word)."""
    set_fields = [f"{name}={getattr(config, name)!r}" for name in UNSUPPORTED_FIELDS
                  if getattr(config, name) not in (None, FIELDS[name])]
    if set_fields:
        raise ConfigError("modelport's generate() does not implement these generation settings", where="GenerationConfig",
                          received=", ".join(set_fields),
                          fix="Unset them (their defaults are in modelport.generation.FIELDS), or use transformers for them.")


def logits_processors(config: GenerationConfig, prompt_length: int) -> list[LogitsProcessor]:
    """The processors ``config`` selects, in transformers' order (penalties, length, then the sampling warpers)."""
    refuse_unsupported(config)
    chosen: list[LogitsProcessor] = []
    eos: Sequence[int] = tuple(config.eos_token_ids)
    if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
        if not config.repetition_penalty > 0:
            raise ConfigError("repetition_penalty must be positive", where="GenerationConfig", received=config.repetition_penalty)
        chosen.append(RepetitionPenalty(float(config.repetition_penalty)))
    if config.no_repeat_ngram_size:
        chosen.append(NoRepeatNGram(int(config.no_repeat_ngram_size)))
    if eos and config.min_length:
        chosen.append(MinLength(int(config.min_length), tuple(eos)))
    if eos and config.min_new_tokens:
        chosen.append(MinLength(int(config.min_new_tokens), tuple(eos), start=prompt_length))
    if config.do_sample:
        keep = (len(eos) + 1 if eos else 2) if config.num_beams > 1 else 1
        if config.temperature is not None and config.temperature != 1.0:
            if not config.temperature > 0:
                raise ConfigError("temperature must be positive", where="GenerationConfig", received=config.temperature,
                                  fix="Use do_sample=False for greedy decoding.")
            chosen.append(Temperature(float(config.temperature)))
        if config.top_k:
            chosen.append(TopK(int(config.top_k), keep))
        if config.top_p is not None and config.top_p < 1.0:
            if not 0 <= config.top_p <= 1:
                raise ConfigError("top_p must be within [0, 1]", where="GenerationConfig", received=config.top_p)
            chosen.append(TopP(float(config.top_p), keep))
    return chosen
