"""Text generation in TensorFlow: transformers 4.x's ``generate()`` as one XLA-compiled loop.

The decoding rules (settings, processors, beam search) are the core's
(:mod:`modelport.generation`), run over :data:`TF_OPS`. Here they run in a
``tf.function(jit_compile=True)`` whose ``tf.while_loop`` works on buffers of the
final size: the token ids, the attention mask and a key/value cache of
``max_length`` positions, written in place (``XlaDynamicUpdateSlice``), so the
loop compiles once. The compiled function is kept per model and settings: a
second call with the same shapes does not trace or compile again.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
from tensorflow.compiler.tf2xla.python import xla

from modelport.generation import GenerationConfig, beam_search
from modelport.generation.plan import LoopSettings, decoder_start_token, loop_settings, mask_from_padding, plan_decoding
from modelport.generation.processors import ArrayOps

from ._keras import tf
from .modeling import ModelOutput

__all__ = ["TFGenerationMixin", "TFSeq2SeqGenerationMixin", "TF_OPS", "init_cache", "write_cache"]

logger = logging.getLogger(__name__)

_DTYPES = {"int64": tf.int32, "float32": tf.float32, "bool": tf.bool}  # token ids are int32 throughout, as top_k's


def _scatter_last(x: Any, idx: Any, values: Any) -> Any:
    """A copy of ``x [b, n]`` with ``x[b, idx[b, j]] = values[b, j]``."""
    rows = tf.broadcast_to(tf.range(tf.shape(idx)[0])[:, None], tf.shape(idx))
    return tf.tensor_scatter_nd_update(x, tf.stack([rows, tf.cast(idx, tf.int32)], axis=-1), values)


def _invert(values: Any, idx: Any) -> Any:
    if values.dtype == tf.bool:  # scatter takes numbers
        return tf.cast(_scatter_last(tf.zeros_like(values, tf.int8), idx, tf.cast(values, tf.int8)), tf.bool)
    return _scatter_last(tf.zeros_like(values), idx, values)


def _set_column(x: Any, column: Any, values: Any) -> Any:
    start = tf.stack([0, 0, tf.cast(column, tf.int32)])
    return xla.dynamic_update_slice(x, tf.cast(values, x.dtype)[:, :, None], start)


TF_OPS = ArrayOps(
    where=lambda c, a, b: tf.where(c, a, b),
    take_along_axis=lambda x, idx: tf.gather(x, tf.cast(idx, tf.int32), batch_dims=1),
    put_along_axis=_scatter_last,
    sort_ascending=lambda x: (tf.sort(x, axis=-1), tf.argsort(x, axis=-1, stable=True)),
    top_k_values=lambda x, k: tf.math.top_k(x, k).values,
    softmax=lambda x: tf.nn.softmax(x, axis=-1),
    cumsum=lambda x: tf.cumsum(x, axis=-1),
    arange=lambda n: tf.range(n),
    one_hot=lambda ids, n: tf.one_hot(ids, n, dtype=tf.int8),
    invert_permutation=_invert,
    any_over=lambda x, axis: tf.reduce_any(x, axis=axis),
    all_over=lambda x, axis: tf.reduce_all(x, axis=axis),
    min_over=lambda x, axis: tf.reduce_min(x, axis=axis),
    top_k=lambda x, k: tuple(tf.math.top_k(x, k)),  # type: ignore[arg-type,return-value]
    full=lambda shape, value, dtype: tf.fill(shape, tf.cast(value, _DTYPES[dtype])),
    reshape=tf.reshape,
    concat=lambda arrays, axis: tf.concat(arrays, axis=axis),
    gather_beams=lambda x, idx: tf.gather(x, tf.cast(idx, tf.int32), batch_dims=1),
    set_prefix=lambda x, prefix: tf.concat([tf.cast(prefix, x.dtype), x[..., prefix.shape[-1]:]], axis=-1),
    set_column=_set_column,
    asarray=tf.constant,
)


def init_cache(layers: int, batch: int, length: int, heads: int, head_dim: int, dtype: Any) -> tuple[tuple[Any, Any], ...]:
    """Zeroed keys and values ``[batch, heads, length, head_dim]`` for each layer."""
    shape = (batch, heads, length, head_dim)
    return tuple((tf.zeros(shape, dtype), tf.zeros(shape, dtype)) for _ in range(layers))


def write_cache(cache: tuple[Any, Any], keys: Any, values: Any, index: Any) -> tuple[Any, Any, tuple[Any, Any]]:
    """Write the new positions' keys and values at ``index``; return every position's, and the updated layer cache."""
    start = tf.stack([0, 0, tf.cast(index, tf.int32), 0])
    new_keys = xla.dynamic_update_slice(cache[0], tf.cast(keys, cache[0].dtype), start)
    new_values = xla.dynamic_update_slice(cache[1], tf.cast(values, cache[1].dtype), start)
    return new_keys, new_values, (new_keys, new_values)


class TFGenerationMixin:
    """``generate()`` for a TF causal language model with ``generation_step(tokens, mask, positions, cache, index)`` and
    ``cache_layout()`` (``(layers, key/value heads, head size)``)."""

    generation_config: GenerationConfig | None = None

    def can_generate(self) -> bool:
        return True

    def generate(self, input_ids: Any, attention_mask: Any = None, generation_config: GenerationConfig | None = None,
                 seed: Any = None, **kwargs: Any) -> Any:
        """Continue ``input_ids`` (``[batch, length]``, left-padded with ``attention_mask``) as transformers 4.x does.

        Returns the ids (prompt included) cut after the longest row, as transformers' PyTorch generate does, or with
        ``return_dict_in_generate=True`` an output with ``sequences`` and, with ``output_scores``, ``scores`` (and
        ``sequences_scores`` for beam search). ``seed`` (two integers) makes sampling repeat.
        """
        ids = np.asarray(input_ids)
        prompt, encoder_decoder = self._loop_prompt(ids, generation_config, kwargs)
        plan = plan_decoding(getattr(self, "generation_config", None), generation_config, prompt.shape[-1], kwargs,
                             type(self).__name__)
        mask = np.asarray(attention_mask) if attention_mask is not None else mask_from_padding(ids, plan)
        prompt_mask, context = mask, None
        if encoder_decoder:  # the mask is the encoder's; every decoder token counts
            prompt_mask, context = np.ones_like(prompt), (tf.constant(ids, tf.int32), tf.constant(mask, tf.int32))
        static = loop_settings(plan, self.config.vocab_size)  # type: ignore[attr-defined]
        run = self._compiled(static, encoder_decoder)
        seed = tf.constant(seed if seed is not None else (0, 0), tf.int32)
        arguments = (tf.constant(prompt, tf.int32), tf.constant(prompt_mask, tf.int32), seed)
        sequences, scores, sequence_scores, written = run(*arguments, *(context or ()))
        sequences = sequences[:, :int(written)]
        config = plan.config
        if not config.return_dict_in_generate:
            return sequences
        stepwise = static.output_scores and static.mode != "beam"  # beam search reports its sequences' scores
        return ModelOutput(sequences=sequences, scores=scores[:, :int(written) - plan.prompt_length] if stepwise else None,
                           sequences_scores=sequence_scores if config.output_scores and not stepwise else None)

    def _loop_prompt(self, ids: np.ndarray, generation_config: GenerationConfig | None,
                     kwargs: dict[str, Any]) -> tuple[np.ndarray, bool]:
        """The ids the loop continues, and whether the model is an encoder-decoder (``ids`` then go to the encoder):
        a causal LM continues its prompt."""
        return ids, False

    def _compiled(self, static: LoopSettings, encoder_decoder: bool = False) -> Any:
        compiled = self.__dict__.setdefault("_generation_functions", {})
        if static not in compiled:
            loop = _beam_loop if static.mode == "beam" else _sample_loop

            def run(ids: Any, mask: Any, seed: Any, *context: Any) -> Any:
                make_cache, forward = self._loop_parts(static, context or None)
                return loop(static, make_cache, forward, ids, mask, seed)

            compiled[static] = tf.function(run, jit_compile=True, reduce_retracing=True, autograph=False)
        return compiled[static]

    def _loop_parts(self, static: LoopSettings, context: Any) -> tuple[Any, Any]:
        """What the loop calls: ``make_cache(rows)`` and ``forward(tokens, mask, positions, cache, index)`` (the next
        token's float32 logits and the cache). A causal LM's cache is zeroed keys and values."""
        return (lambda rows: _cache_for(self, rows, static.max_length)), self.generation_step  # type: ignore[attr-defined]


def _positions(mask: Any) -> Any:
    return tf.where(mask == 0, 1, tf.cumsum(mask, axis=-1) - 1)


def _cache_for(model: Any, batch: Any, length: int) -> Any:
    layers, heads, head_dim = model.cache_layout()
    return init_cache(layers, batch, length, heads, head_dim, model.compute_dtype if hasattr(model, "compute_dtype") else tf.float32)


def _sample_loop(static: LoopSettings, make_cache: Any, forward: Any, ids: Any, mask: Any, seed: Any) -> tuple:
    batch, prompt, total = tf.shape(ids)[0], static.prompt_length, static.max_length
    sequences = tf.concat([ids, tf.fill((batch, total - prompt), static.pad)], axis=1)
    mask = tf.concat([mask, tf.ones((batch, total - prompt), mask.dtype)], axis=1)
    positions = _positions(mask)
    eos = tf.constant(static.eos or (-1,), tf.int32)
    scores = tf.zeros((batch, total - prompt, static.vocab) if static.output_scores else (0,), tf.float32)

    def step(state: tuple, width: int) -> tuple:
        length, sequences, unfinished, cache, scores = state
        start = length - width
        running = tf.slice(sequences, tf.stack([0, start]), [-1, width])
        logits, cache = forward(running, mask, tf.slice(positions, tf.stack([0, start]), [-1, width]), cache, start)
        for processor in static.processors:
            logits = processor(sequences, logits, length, TF_OPS)
        if static.mode == "sample":
            draw = tf.random.stateless_categorical(logits, 1, seed + tf.stack([0, length]), dtype=tf.int32)[:, 0]
            tokens = draw
        else:
            tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
        tokens = tf.where(unfinished, tokens, static.pad)
        sequences = xla.dynamic_update_slice(sequences, tokens[:, None], tf.stack([0, length]))
        if static.output_scores:
            scores = xla.dynamic_update_slice(scores, logits[:, None], tf.stack([0, length - prompt, 0]))
        unfinished = unfinished & ~tf.reduce_any(tokens[:, None] == eos[None, :], axis=1)
        return length + 1, sequences, unfinished, cache, scores

    state = (tf.constant(prompt), sequences, tf.ones((batch,), tf.bool), make_cache(batch), scores)
    state = step(state, prompt)  # the prompt, once; then one token per step
    state = tf.while_loop(lambda *s: (s[0] < total) & tf.reduce_any(s[2]), lambda *s: step(s, 1), state)
    return state[1], state[4], tf.zeros((0,)), state[0]


def _beam_loop(static: LoopSettings, make_cache: Any, forward: Any, ids: Any, mask: Any, seed: Any) -> tuple:
    batch = int(ids.shape[0])
    prompt, beams, total = static.prompt_length, static.beams, static.max_length
    settings = beam_search.BeamSettings(batch=batch, beams=beams, vocab=static.vocab, prompt_length=prompt, max_length=total,
                                        eos_token_ids=static.eos, length_penalty=static.length_penalty,
                                        early_stopping=static.early_stopping, fill=beam_search.fill_value(static.pad, static.eos))
    flat_mask = tf.repeat(mask, beams, axis=0)
    flat_mask = tf.concat([flat_mask, tf.ones((batch * beams, total - prompt), mask.dtype)], axis=1)
    positions = _positions(flat_mask)
    fields = [f.name for f in dataclasses.fields(beam_search.BeamState)]

    def step(state: tuple, width: int) -> tuple:
        length, beam_state, cache = state
        beam = beam_search.BeamState(**dict(zip(fields, beam_state)))
        running = tf.reshape(beam.running, (batch * beams, total))
        start = length - width
        tokens = tf.slice(running, tf.stack([0, start]), [-1, width])
        logits, cache = forward(tokens, flat_mask, tf.slice(positions, tf.stack([0, start]), [-1, width]), cache, start)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        for processor in static.processors:
            log_probs = processor(running, log_probs, length, TF_OPS)
        beam, origin = beam_search.advance(beam, log_probs, length, settings, TF_OPS)
        cache = tf.nest.map_structure(lambda x: tf.gather(x, origin, axis=0), cache)
        return length + 1, tuple(getattr(beam, f) for f in fields), cache

    def running(*state: Any) -> Any:
        beam = beam_search.BeamState(**dict(zip(fields, state[1])))
        return ~beam_search.is_done(beam, settings, TF_OPS)

    first = beam_search.start(tf.repeat(ids, beams, axis=0), settings, TF_OPS)
    state = (tf.constant(prompt), tuple(getattr(first, f) for f in fields), make_cache(batch * beams))
    state = step(state, prompt)
    state = tf.while_loop(running, lambda *s: step(s, 1), state)
    final = beam_search.BeamState(**dict(zip(fields, state[1])))
    sequences, scores, added = beam_search.finish(final, settings, static.returned, TF_OPS)
    return sequences, tf.zeros((0,)), scores, prompt + tf.reduce_max(added)


class TFSeq2SeqGenerationMixin(TFGenerationMixin):
    """``generate()`` for a TF encoder-decoder (T5) with ``encode_for_generation(input_ids, attention_mask)`` (each
    decoder layer's cross-attention keys and values, and the encoder mask's bias) and ``decode_step(tokens, cache,
    index)``. The encoder runs once inside the compiled function; the loop starts from ``decoder_start_token_id``."""

    def _loop_prompt(self, ids: np.ndarray, generation_config: GenerationConfig | None,
                     kwargs: dict[str, Any]) -> tuple[np.ndarray, bool]:
        start = decoder_start_token(getattr(self, "generation_config", None), generation_config, kwargs, type(self).__name__)
        return np.full((ids.shape[0], 1), start, np.int32), True

    def _loop_parts(self, static: LoopSettings, context: Any) -> tuple[Any, Any]:
        ids, mask = context
        cross = self.encode_for_generation(ids, mask)  # type: ignore[attr-defined]
        layers, heads, head_dim = self.cache_layout()  # type: ignore[attr-defined]
        dtype = self.compute_dtype if hasattr(self, "compute_dtype") else tf.float32

        def make_cache(rows: int) -> dict[str, Any]:
            repeats = rows // int(ids.shape[0])  # beam search: each row's encoder output once per beam
            return {"self": init_cache(layers, rows, static.max_length, heads, head_dim, dtype),
                    "cross": tf.nest.map_structure(lambda x: tf.repeat(x, repeats, axis=0), cross)}

        def forward(tokens: Any, mask: Any, positions: Any, cache: Any, index: Any) -> tuple[Any, Any]:
            logits, cache = self.decode_step(tokens, cache, index)  # type: ignore[attr-defined]
            return tf.cast(logits, tf.float32), cache

        return make_cache, forward
