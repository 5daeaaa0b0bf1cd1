"""Text generation in JAX/Flax: transformers 4.x's ``generate()`` as one compiled loop.

The decoding rules (settings, processors, beam search) are the core's
(:mod:`modelport.generation`), run over :data:`JAX_OPS`. Here they run inside
``jax.lax.while_loop`` over buffers of the final size: the token ids, the
attention mask and a key/value cache of ``max_length`` positions, written in
place, so every step has the same shapes and the loop compiles once. The
compiled function is kept per model and settings: a second call with the same
shapes does not compile again.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from modelport.generation import GenerationConfig, beam_search
from modelport.generation.plan import LoopSettings, decoder_start_token, loop_settings, mask_from_padding, plan_decoding
from modelport.generation.processors import ArrayOps
from modelport.outputs import ModelOutput

__all__ = ["FlaxGenerationMixin", "FlaxSeq2SeqGenerationMixin", "JAX_OPS", "init_cache", "write_cache"]

logger = logging.getLogger(__name__)

_DTYPES = {"int64": jnp.int32, "float32": jnp.float32, "bool": jnp.bool_}  # JAX runs without 64-bit integers by default

JAX_OPS = ArrayOps(
    where=jnp.where,
    take_along_axis=lambda x, idx: jnp.take_along_axis(x, idx, axis=-1),
    put_along_axis=lambda x, idx, values: jnp.put_along_axis(x, idx, values, axis=-1, inplace=False),
    sort_ascending=lambda x: (jnp.sort(x, axis=-1, stable=True), jnp.argsort(x, axis=-1, stable=True)),
    top_k_values=lambda x, k: jax.lax.top_k(x, k)[0],
    softmax=lambda x: jax.nn.softmax(x, axis=-1),
    cumsum=lambda x: jnp.cumsum(x, axis=-1),
    arange=jnp.arange,
    one_hot=lambda ids, n: jax.nn.one_hot(ids, n, dtype=jnp.int8),
    invert_permutation=lambda values, idx: jnp.put_along_axis(jnp.zeros_like(values), idx, values, axis=-1, inplace=False),
    any_over=lambda x, axis: jnp.any(x, axis=axis),
    all_over=lambda x, axis: jnp.all(x, axis=axis),
    min_over=lambda x, axis: jnp.min(x, axis=axis),
    top_k=lambda x, k: jax.lax.top_k(x, k),
    full=lambda shape, value, dtype: jnp.full(shape, value, dtype=_DTYPES[dtype]),
    reshape=jnp.reshape,
    concat=lambda arrays, axis: jnp.concatenate(arrays, axis=axis),
    gather_beams=lambda x, idx: jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=1),
    set_prefix=lambda x, prefix: x.at[..., :prefix.shape[-1]].set(prefix),
    set_column=lambda x, column, values: x.at[:, :, column].set(values),
    asarray=jnp.asarray,
)


def init_cache(layers: int, batch: int, length: int, heads: int, head_dim: int, dtype: Any) -> tuple[dict[str, Any], ...]:
    """Zeroed keys and values ``[batch, length, heads, head_dim]`` for each layer."""
    shape = (batch, length, heads, head_dim)
    return tuple({"key": jnp.zeros(shape, dtype), "value": jnp.zeros(shape, dtype)} for _ in range(layers))


def write_cache(cache: dict[str, Any], keys: Any, values: Any, index: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Write the new positions' keys and values at ``index``; return every position's, and the updated layer cache."""
    start = (0, index, 0, 0)
    new_keys = jax.lax.dynamic_update_slice(cache["key"], keys.astype(cache["key"].dtype), start)
    new_values = jax.lax.dynamic_update_slice(cache["value"], values.astype(cache["value"].dtype), start)
    return new_keys, new_values, {"key": new_keys, "value": new_values}


class FlaxGenerationMixin:
    """``generate()`` for a Flax causal language model whose module takes ``cache``, ``cache_index`` and
    ``logits_to_keep`` (see :func:`init_cache`) and whose class gives its ``cache_layout()``: ``(layers, key/value
    heads, head size)``."""

    generation_config: GenerationConfig | None = None

    def can_generate(self) -> bool:
        return True

    def generate(self, input_ids: Any, attention_mask: Any = None, generation_config: GenerationConfig | None = None,
                 prng_key: Any = None, params: dict | None = None, **kwargs: Any) -> ModelOutput:
        """Continue ``input_ids`` (``[batch, length]``, left-padded with ``attention_mask``) as transformers 4.x does.

        Returns an output whose ``sequences`` hold ``max_length`` tokens per row (the prompt, the new tokens, then the
        pad token), as transformers' Flax generate does; ``scores`` with ``output_scores=True`` and, for beam search,
        ``sequences_scores``. ``prng_key`` seeds sampling (default ``PRNGKey(0)``).
        """
        ids = np.asarray(input_ids)
        prompt, encoder_decoder = self._loop_prompt(ids, generation_config, kwargs)
        plan = plan_decoding(getattr(self, "generation_config", None), generation_config, prompt.shape[-1], kwargs,
                             type(self).__name__)
        mask = np.asarray(attention_mask) if attention_mask is not None else mask_from_padding(ids, plan)
        prompt_mask, context = mask, None
        if encoder_decoder:  # the mask is the encoder's; every decoder token counts
            prompt_mask, context = np.ones_like(prompt), (jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32))
        static = loop_settings(plan, self.config.vocab_size)  # type: ignore[attr-defined]
        run = self._compiled(static, ids.shape[0])
        key = prng_key if prng_key is not None else jax.random.PRNGKey(0)
        sequences, scores, sequence_scores = run(params if params is not None else self.params,  # type: ignore[attr-defined]
                                                 jnp.asarray(prompt, jnp.int32), jnp.asarray(prompt_mask, jnp.int32), key,
                                                 context)
        config = plan.config
        return ModelOutput(sequences=sequences, scores=scores if config.output_scores else None,
                           sequences_scores=sequence_scores if config.output_scores else None)

    def _loop_prompt(self, ids: np.ndarray, generation_config: GenerationConfig | None,
                     kwargs: dict[str, Any]) -> tuple[np.ndarray, bool]:
        """The ids the loop continues, and whether the model is an encoder-decoder (``ids`` then go to the encoder):
        a causal LM continues its prompt."""
        return ids, False

    def _compiled(self, static: LoopSettings, batch: int) -> Any:
        compiled = self.__dict__.setdefault("_generation_functions", {})
        key = (static, batch, getattr(self, "dtype", None))
        if key not in compiled:
            loop = _beam_loop if static.mode == "beam" else _sample_loop

            def run(params: dict, ids: Any, mask: Any, key: Any, context: Any) -> tuple:
                make_cache, forward = self._loop_parts(params, static, context)
                return loop(static, make_cache, forward, params, ids, mask, key)

            compiled[key] = jax.jit(run)
        return compiled[key]

    def _loop_parts(self, params: dict, static: LoopSettings, context: Any) -> tuple[Any, Any]:
        """What the loop calls: ``make_cache(batch=rows)`` and ``forward(params, tokens, mask, positions, cache, index)``
        (the next token's float32 logits and the cache). A causal LM's cache is zeroed keys and values."""
        layers, heads, head_dim = self.cache_layout()  # type: ignore[attr-defined]  # the model class's
        make = functools.partial(init_cache, layers, length=static.max_length, heads=heads, head_dim=head_dim,
                                 dtype=getattr(self, "dtype", jnp.float32))
        return make, functools.partial(_forward, self.module)  # type: ignore[attr-defined]


def _positions(mask: Any) -> Any:
    return jnp.where(mask == 0, 1, jnp.cumsum(mask, axis=-1) - 1)


def _forward(module: Any, params: dict, tokens: Any, mask: Any, positions: Any, cache: Any, index: Any) -> tuple[Any, Any]:
    """The next token's float32 logits after ``tokens`` (written at ``index`` of the cache), and the cache."""
    width = tokens.shape[1]
    out = module.apply({"params": params}, tokens, mask, None, jax.lax.dynamic_slice_in_dim(positions, index, width, 1),
                       True, False, False, cache, index, 1)
    return out["logits"][:, -1].astype(jnp.float32), out["past_key_values"]


def _sample_loop(static: LoopSettings, make_cache: Any, forward: Any, params: dict, ids: Any, mask: Any, key: Any) -> tuple:
    batch, prompt = ids.shape
    total = static.max_length
    sequences = jnp.full((batch, total), static.pad, jnp.int32).at[:, :prompt].set(ids)
    mask = jnp.concatenate([mask, jnp.ones((batch, total - prompt), mask.dtype)], axis=1)
    positions = _positions(mask)
    eos = jnp.asarray(static.eos or (-1,), jnp.int32)
    scores = jnp.zeros((batch, total - prompt, static.vocab) if static.output_scores else (0,), jnp.float32)

    def step(state: tuple, width: int) -> tuple:
        length, sequences, unfinished, cache, key, scores = state
        running = jax.lax.dynamic_slice_in_dim(sequences, length - width, width, 1)
        logits, cache = forward(params, running, mask, positions, cache, length - width)
        for processor in static.processors:
            logits = processor(sequences, logits, length, JAX_OPS)
        if static.mode == "sample":
            key, draw = jax.random.split(key)
            tokens = jax.random.categorical(draw, logits, axis=-1).astype(jnp.int32)
        else:
            tokens = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        tokens = jnp.where(unfinished, tokens, static.pad)
        sequences = jax.lax.dynamic_update_slice_in_dim(sequences, tokens[:, None], length, 1)
        if static.output_scores:
            scores = jax.lax.dynamic_update_slice_in_dim(scores, logits[:, None], length - prompt, 1)
        unfinished = unfinished & ~jnp.isin(tokens, eos)
        return length + 1, sequences, unfinished, cache, key, scores

    state = (jnp.int32(prompt), sequences, jnp.ones(batch, bool), make_cache(batch=batch), key, scores)
    state = step(state, prompt)  # the prompt, once; then one token per step
    state = jax.lax.while_loop(lambda s: (s[0] < total) & jnp.any(s[2]), lambda s: step(s, 1), state)
    return state[1], state[5], None


def _beam_loop(static: LoopSettings, make_cache: Any, forward: Any, params: dict, ids: Any, mask: Any, key: Any) -> tuple:
    batch, prompt = ids.shape
    beams = static.beams
    settings = beam_search.BeamSettings(batch=batch, beams=beams, vocab=static.vocab, prompt_length=prompt,
                                        max_length=static.max_length, eos_token_ids=static.eos,
                                        length_penalty=static.length_penalty, early_stopping=static.early_stopping,
                                        fill=beam_search.fill_value(static.pad, static.eos))
    flat_mask = jnp.repeat(mask, beams, axis=0)
    flat_mask = jnp.concatenate([flat_mask, jnp.ones((batch * beams, static.max_length - prompt), mask.dtype)], axis=1)
    positions = _positions(flat_mask)
    fields = [f.name for f in dataclasses.fields(beam_search.BeamState)]

    def step(state: tuple, width: int) -> tuple:
        length, beam_state, cache = state
        beam = beam_search.BeamState(**dict(zip(fields, beam_state)))
        running = beam.running.reshape(batch * beams, static.max_length)
        tokens = jax.lax.dynamic_slice_in_dim(running, length - width, width, 1)
        logits, cache = forward(params, tokens, flat_mask, positions, cache, length - width)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        for processor in static.processors:
            log_probs = processor(running, log_probs, length, JAX_OPS)
        beam, origin = beam_search.advance(beam, log_probs, length, settings, JAX_OPS)
        cache = jax.tree_util.tree_map(lambda x: x[origin], cache)
        return length + 1, tuple(getattr(beam, f) for f in fields), cache

    def running(state: tuple) -> Any:
        beam = beam_search.BeamState(**dict(zip(fields, state[1])))
        return ~beam_search.is_done(beam, settings, JAX_OPS)

    first = beam_search.start(jnp.repeat(ids, beams, axis=0), settings, JAX_OPS)
    state = (jnp.int32(prompt), tuple(getattr(first, f) for f in fields), make_cache(batch=batch * beams))
    state = step(state, prompt)
    state = jax.lax.while_loop(running, lambda s: step(s, 1), state)
    final = beam_search.BeamState(**dict(zip(fields, state[1])))
    sequences, scores, _ = beam_search.finish(final, settings, static.returned, JAX_OPS)
    return sequences, None, scores


class FlaxSeq2SeqGenerationMixin(FlaxGenerationMixin):
    """``generate()`` for a Flax encoder-decoder (T5) whose module has ``encode_for_generation(input_ids,
    attention_mask)`` (each decoder layer's cross-attention keys and values, and the encoder mask's bias) and
    ``decode_step(tokens, cache, index)``. The encoder runs once inside the compiled function; the loop starts
    from ``decoder_start_token_id`` with a cache holding the self-attention buffers and what the encoder gave."""

    def _loop_prompt(self, ids: np.ndarray, generation_config: GenerationConfig | None,
                     kwargs: dict[str, Any]) -> tuple[np.ndarray, bool]:
        start = decoder_start_token(getattr(self, "generation_config", None), generation_config, kwargs, type(self).__name__)
        return np.full((ids.shape[0], 1), start, np.int32), True

    def _loop_parts(self, params: dict, static: LoopSettings, context: Any) -> tuple[Any, Any]:
        module = self.module  # type: ignore[attr-defined]
        ids, mask = context
        cross = module.apply({"params": params}, ids, mask, method=module.encode_for_generation)
        layers, heads, head_dim = self.cache_layout()  # type: ignore[attr-defined]
        dtype = getattr(self, "dtype", jnp.float32)

        def make_cache(batch: int) -> dict[str, Any]:
            repeats = batch // ids.shape[0]  # beam search: each row's encoder output once per beam
            return {"self": init_cache(layers, batch, static.max_length, heads, head_dim, dtype),
                    "cross": jax.tree_util.tree_map(lambda x: jnp.repeat(x, repeats, axis=0), cross)}

        def forward(params: dict, tokens: Any, mask: Any, positions: Any, cache: Any, index: Any) -> tuple[Any, Any]:
            logits, cache = module.apply({"params": params}, tokens, cache, index, method=module.decode_step)
            return logits.astype(jnp.float32), cache

        return make_cache, forward
