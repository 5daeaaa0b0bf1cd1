"""Beam search, written once over :class:`~.processors.ArrayOps`, with transformers 4.57.6's rules: the same
candidates kept, the same hypotheses finished, the same length penalty and early-stopping heuristic, so that the same
model gives the same token ids.

Everything has a fixed shape (``[batch, beams, max_length]`` sequences), so one step
runs eagerly in PyTorch and inside a compiled loop in JAX and TF. The framework
runs the model and passes the next token's log-probabilities (processors applied);
:func:`advance` chooses the continuations, and says which running beam each of the
new running beams came from, so that the framework can reorder its key/value cache.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .processors import ArrayOps

__all__ = ["BeamSettings", "BeamState", "start", "advance", "is_done", "finish", "fill_value"]

Array = Any
_FAR = -1.0e9  # transformers' "never choose this" score


@dataclass(frozen=True)
class BeamSettings:
    batch: int
    beams: int
    vocab: int
    prompt_length: int
    max_length: int
    eos_token_ids: tuple[int, ...]
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    fill: int = 0  # what unwritten positions hold: the pad token, else the first end-of-sequence token

    @property
    def penalties(self) -> np.ndarray:
        """``n ** length_penalty`` for every count of new tokens ``n`` (float64, then float32 as transformers divides
        float32 scores by it), looked up by a possibly traced count inside compiled loops."""
        counts = np.maximum(np.arange(self.max_length + 1, dtype=np.float64), 1.0)
        return (counts ** self.length_penalty).astype(np.float32)

    @property
    def candidates(self) -> int:
        """How many continuations each step keeps: enough that ``beams`` of them can still be running."""
        return max(2, 1 + len(self.eos_token_ids)) * self.beams


@dataclass(frozen=True)
class BeamState:
    running: Array  # [batch, beams, max_length] int64: the running hypotheses
    running_scores: Array  # [batch, beams] float32: their summed log-probabilities
    finished: Array  # [batch, beams, max_length]: the best finished hypotheses so far
    finished_scores: Array  # [batch, beams]: their length-penalised scores (-1e9 while empty)
    is_finished: Array  # [batch, beams] bool: which finished slots hold a hypothesis
    may_improve: Array  # [batch, 1] bool: whether running beams could still beat the finished ones
    hits_stop: Array  # [batch, candidates] bool: the last step's candidates that ended
    generated: Array  # [batch, beams] int: how many tokens each finished hypothesis added (for the output length)


def start(prompt: Array, settings: BeamSettings, ops: ArrayOps) -> BeamState:
    """The state before the first step: every beam holds the prompt (``[batch * beams, prompt_length]``), only the
    first one counts."""
    s = settings
    running = ops.full((s.batch, s.beams, s.max_length), s.fill, "int64")
    running = ops.set_prefix(running, ops.reshape(prompt, (s.batch, s.beams, s.prompt_length)))
    first_only = ops.where(ops.arange(s.beams)[None, :] == 0, 0.0, _FAR) + ops.full((s.batch, s.beams), 0.0, "float32")
    return BeamState(
        running=running, running_scores=first_only, finished=running,
        finished_scores=ops.full((s.batch, s.beams), _FAR, "float32"),
        is_finished=ops.full((s.batch, s.beams), False, "bool"), may_improve=ops.full((s.batch, 1), True, "bool"),
        hits_stop=ops.full((s.batch, s.beams), False, "bool"), generated=ops.full((s.batch, s.beams), 0, "int64"),
    )


def advance(state: BeamState, log_probs: Array, length: int, settings: BeamSettings, ops: ArrayOps) -> tuple[BeamState, Array]:
    """One step: ``log_probs`` (``[batch * beams, vocab]``, processors applied) for the token at ``length``.

    Returns the new state and, for each new running beam (flattened), the flat index of the running beam it extends:
    the order to put the key/value cache in.
    """
    s = settings
    totals = ops.reshape(log_probs, (s.batch, s.beams, s.vocab)) + state.running_scores[:, :, None]
    top_scores, top_indices = ops.top_k(ops.reshape(totals, (s.batch, s.beams * s.vocab)), s.candidates)
    source_beam = top_indices // s.vocab
    tokens = top_indices % s.vocab
    candidates = ops.set_column(ops.gather_beams(state.running, source_beam), length, tokens)

    hits_stop = _is_eos(tokens, s.eos_token_ids, ops) | (length + 1 >= s.max_length)

    # the running beams: the best candidates that did not end
    running_scores_all = top_scores + ops.where(hits_stop, _FAR, 0.0)
    _, keep = ops.top_k(running_scores_all, s.beams)
    running = ops.gather_beams(candidates, keep)
    running_scores = ops.gather_beams(running_scores_all, keep)
    origin = ops.gather_beams(source_beam, keep) + ops.arange(s.batch)[:, None] * s.beams

    # the finished hypotheses: the best of the old ones and the candidates among the first `beams` that just ended
    among_first = ops.arange(s.candidates)[None, :] < s.beams
    just_finished = hits_stop & among_first
    penalties = ops.asarray(s.penalties)
    penalised = top_scores / penalties[length + 1 - s.prompt_length]
    full = ops.all_over(state.is_finished, 1)[:, None] & (s.early_stopping is True)
    penalised = penalised + ops.where(full, _FAR, 0.0) + ops.where(state.may_improve, 0.0, _FAR)
    penalised = penalised + ops.where(just_finished, 0.0, _FAR)
    merged_scores = ops.concat([state.finished_scores, penalised], 1)
    _, best = ops.top_k(merged_scores, s.beams)
    finished = ops.gather_beams(ops.concat([state.finished, candidates], 1), best)
    finished_scores = ops.gather_beams(merged_scores, best)
    is_finished = ops.gather_beams(ops.concat([state.is_finished, just_finished], 1), best)
    added = ops.full((s.batch, s.candidates), length + 1 - s.prompt_length, "int64")
    generated = ops.gather_beams(ops.concat([state.generated, added], 1), best)

    may_improve = _may_improve(state.may_improve, running_scores, finished_scores, is_finished, length + 1, penalties, s, ops)
    new = replace(state, running=running, running_scores=running_scores, finished=finished, finished_scores=finished_scores,
                  is_finished=is_finished, may_improve=may_improve, hits_stop=hits_stop, generated=generated)
    return new, ops.reshape(origin, (s.batch * s.beams,))


def _is_eos(tokens: Array, eos_token_ids: tuple[int, ...], ops: ArrayOps) -> Array:
    ends = tokens < 0
    for eos in eos_token_ids:
        ends = ends | (tokens == eos)
    return ends


def _may_improve(may_improve: Array, running_scores: Array, finished_scores: Array, is_finished: Array, length: Any,
                 penalties: Array, s: BeamSettings, ops: ArrayOps) -> Array:
    """transformers' heuristic: the best running beam, length-penalised at the length it would be judged at, still
    beats the worst finished hypothesis."""
    hypothetical = (s.max_length if s.early_stopping == "never" and s.length_penalty > 0 else length) - s.prompt_length
    best_running = running_scores[:, :1] / penalties[hypothetical]
    worst_finished = ops.where(is_finished, ops.min_over(finished_scores, 1)[:, None], _FAR)
    return may_improve & ops.any_over(best_running > worst_finished, 1)[:, None]


def is_done(state: BeamState, settings: BeamSettings, ops: ArrayOps) -> Array:
    """True once no batch row can change: nothing can improve, or every slot is finished under early stopping, or every
    candidate of the last step ended."""
    improvement_possible = ops.any_over(ops.reshape(state.may_improve, (-1,)), 0)
    all_finished = ops.all_over(ops.reshape(state.is_finished, (-1,)), 0) & (settings.early_stopping is True)
    all_stopped = ops.all_over(ops.reshape(state.hits_stop, (-1,)), 0)
    return ~(improvement_possible & ~all_finished & ~all_stopped)


def finish(state: BeamState, settings: BeamSettings, returned: int, ops: ArrayOps) -> tuple[Array, Array, Array]:
    """The best ``returned`` hypotheses of each row: ``(sequences [batch * returned, max_length], scores, tokens added)``;
    transformers cuts the sequences after the prompt plus the most tokens any of them added."""
    s = settings
    sequences = ops.reshape(state.finished[:, :returned], (s.batch * returned, s.max_length))
    scores = ops.reshape(state.finished_scores[:, :returned], (s.batch * returned,))
    return sequences, scores, ops.reshape(state.generated[:, :returned], (s.batch * returned,))


def fill_value(pad_token_id: int | None, eos_token_ids: tuple[int, ...]) -> int:
    """What transformers 4.57.6 writes past a hypothesis's end: the pad token when it is set and not 0, else the first
    end-of-sequence token; -1 without one (``pad or eos[0] if eos else -1``: a pad id of 0 counts as unset there)."""
    if not eos_token_ids:
        return -1
    return pad_token_id if pad_token_id else eos_token_ids[0]
