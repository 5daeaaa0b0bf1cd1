"""Text generation in PyTorch: transformers 4.x's ``generate()`` for modelport's language models.

The decoding rules (settings, processors, beam search) are the core's
(:mod:`modelport.generation`), run over :data:`TORCH_OPS`; this module holds the
eager loop, which runs the model on the new token only, with its key/value cache,
under ``torch.inference_mode``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from modelport.errors import ConfigError
from modelport.generation import GenerationConfig, beam_search
from modelport.generation.plan import DecodingPlan, decoder_start_token, mask_from_padding, plan_decoding
from modelport.generation.processors import ArrayOps
from modelport.outputs import ModelOutput

__all__ = ["KeyValueCache", "EncoderDecoderCache", "GenerationMixin", "Seq2SeqGenerationMixin", "TORCH_OPS"]

logger = logging.getLogger(__name__)


class KeyValueCache:
    """Each attention layer's keys and values so far (``[batch, kv_heads, positions, head_dim]``), grown per step."""

    def __init__(self) -> None:
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    @property
    def length(self) -> int:
        """How many positions are cached."""
        return self.keys[0].shape[-2] if self.keys else 0

    def update(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add ``layer``'s keys and values of the new positions; return all of that layer's."""
        if layer == len(self.keys):
            self.keys.append(keys)
            self.values.append(values)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], keys], dim=-2)
            self.values[layer] = torch.cat([self.values[layer], values], dim=-2)
        return self.keys[layer], self.values[layer]

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the batch rows ``rows`` in that order (beam search continues some beams twice and drops others)."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]

    def __len__(self) -> int:
        return len(self.keys)


class EncoderDecoderCache:
    """An encoder-decoder's caches: the decoder's self-attention keys and values, grown per step, and its
    cross-attention ones, computed from the encoder's output at the first step and reused after."""

    def __init__(self) -> None:
        self.self_attention = KeyValueCache()
        self.cross_attention = KeyValueCache()

    @property
    def length(self) -> int:
        return self.self_attention.length

    def reorder(self, rows: torch.Tensor) -> None:
        self.self_attention.reorder(rows)
        self.cross_attention.reorder(rows)


def _keep(config: GenerationConfig, scores: list, processed: torch.Tensor, raw: list, logits: torch.Tensor) -> None:
    """Keep a step's scores and logits only when the output asks for them (they are batch x vocabulary floats a step)."""
    if config.return_dict_in_generate and config.output_scores:
        scores.append(processed)
    if config.return_dict_in_generate and config.output_logits:
        raw.append(logits)


def _put_along(x: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return x.scatter(-1, index.long(), values)


def _set(x: torch.Tensor, where: Any, values: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[where] = values
    return out


def _gather_beams(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    index = index.long().reshape(index.shape + (1,) * (x.dim() - 2)).expand(*index.shape, *x.shape[2:])
    return x.gather(1, index)


_DTYPES = {"int64": torch.int64, "float32": torch.float32, "bool": torch.bool}

TORCH_OPS = ArrayOps(
    where=lambda c, a, b: torch.where(c, a, b),
    take_along_axis=lambda x, idx: x.gather(-1, idx.long()),
    put_along_axis=_put_along,
    sort_ascending=lambda x: torch.sort(x, dim=-1, stable=True),
    top_k_values=lambda x, k: torch.topk(x, k, dim=-1).values,
    softmax=lambda x: x.softmax(-1),
    cumsum=lambda x: x.cumsum(-1),
    arange=lambda n: torch.arange(n),
    one_hot=lambda ids, n: torch.nn.functional.one_hot(ids.long(), n),
    invert_permutation=lambda values, idx: torch.empty_like(values).scatter(-1, idx, values),
    any_over=lambda x, axis: x.any(dim=axis),
    all_over=lambda x, axis: x.all(dim=axis),
    min_over=lambda x, axis: x.min(dim=axis).values,
    top_k=lambda x, k: tuple(torch.topk(x, k, dim=-1)),  # type: ignore[arg-type,return-value]
    full=lambda shape, value, dtype: torch.full(shape, value, dtype=_DTYPES[dtype]),
    reshape=lambda x, shape: x.reshape(shape),
    concat=lambda arrays, axis: torch.cat(arrays, dim=axis),
    gather_beams=_gather_beams,
    set_prefix=lambda x, prefix: _set(x, (..., slice(0, prefix.shape[-1])), prefix),
    set_column=lambda x, column, values: _set(x, (slice(None), slice(None), column), values),
    asarray=torch.from_numpy,
)


class GenerationMixin:
    """``generate()`` and ``can_generate()`` for a causal language model whose forward takes ``past_key_values``,
    ``use_cache``, ``position_ids`` and ``logits_to_keep``."""

    generation_config: GenerationConfig | None = None

    def can_generate(self) -> bool:
        return True

    @torch.inference_mode()
    def generate(self, input_ids: torch.Tensor | None = None, generation_config: GenerationConfig | None = None,
                 streamer: Any = None, generator: torch.Generator | None = None, **kwargs: Any) -> Any:
        """Continue ``input_ids`` (``[batch, length]``, left-padded with ``attention_mask``) as transformers 4.x does.

        Settings come from ``generation_config`` (or the model's), overridden by keywords (``max_new_tokens=24``,
        ``do_sample=True``, ``num_beams=4``...). ``generator`` seeds sampling. ``streamer`` gets ``put(tokens)`` for the
        prompt and each new token, then ``end()``. Returns the ids (prompt included), or with
        ``return_dict_in_generate=True`` an output with ``sequences`` and, as asked, ``scores`` and ``logits``
        (and ``sequences_scores`` for beam search).
        """
        if input_ids is None:
            raise ConfigError("generate() needs the prompt's token ids", where=f"{type(self).__name__}.generate",
                              expected="input_ids of shape [batch, length]", received=None)
        return self._decode(input_ids, kwargs.pop("attention_mask", None), generation_config, streamer, generator, kwargs)

    def _decode(self, input_ids: torch.Tensor, attention_mask: Any, generation_config: GenerationConfig | None,
                streamer: Any, generator: torch.Generator | None, kwargs: dict[str, Any], context: Any = None) -> Any:
        """The loop after ``input_ids`` (the decoder's ids for an encoder-decoder); ``context(plan)`` gives what every
        step needs beside them (an encoder-decoder's encoded input)."""
        plan = plan_decoding(getattr(self, "generation_config", None), generation_config, int(input_ids.shape[-1]), kwargs,
                             type(self).__name__, outputs=("scores", "logits"))
        input_ids, attention_mask = self._on_device(input_ids, attention_mask, plan)
        if streamer is not None and plan.mode == "beam":
            raise ConfigError("a streamer gets each row's tokens as they are made, but beam search decides its sequences at "
                              "the end", where=f"{type(self).__name__}.generate", fix="Stream with num_beams=1.")
        step_context = context(plan) if context is not None else None
        if streamer is not None:
            streamer.put(input_ids.cpu())
        try:
            if plan.mode == "beam":
                return self._beam_search(input_ids, attention_mask, plan, step_context)
            return self._sample(input_ids, attention_mask, plan, streamer, generator, step_context)
        finally:
            if streamer is not None:
                streamer.end()

    def _on_device(self, input_ids: Any, attention_mask: Any, plan: DecodingPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids (numpy arrays are taken too) and their mask as long tensors on the model's device; a missing mask is
        inferred from padding, as transformers does."""
        device = next(self.parameters()).device  # type: ignore[attr-defined]
        input_ids = torch.as_tensor(input_ids).to(device=device, dtype=torch.long)
        if attention_mask is None:
            attention_mask = torch.from_numpy(mask_from_padding(input_ids.cpu().numpy(), plan))
        return input_ids, torch.as_tensor(attention_mask).to(device=device, dtype=torch.long)

    # what an encoder-decoder changes (Seq2SeqGenerationMixin): the cache, the step, and the encoder's output per beam
    def _new_cache(self) -> Any:
        return KeyValueCache()

    def _expand_context(self, context: Any, beams: int) -> Any:
        return context

    def _step(self, ids: torch.Tensor, mask: torch.Tensor, cache: KeyValueCache | None, context: Any = None) -> torch.Tensor:
        """The next token's logits (float32) after ``ids``: the new tokens only when ``cache`` holds the rest."""
        positions = mask.cumsum(-1) - 1
        positions = positions.masked_fill(mask == 0, 1)
        if cache is not None and cache.length:
            ids, positions = ids[:, cache.length:], positions[:, cache.length:]
        out = self(ids, attention_mask=mask, position_ids=positions, past_key_values=cache,  # type: ignore[operator]
                   use_cache=cache is not None, logits_to_keep=1)
        return out.logits[:, -1, :].float()

    def _sample(self, ids: torch.Tensor, mask: torch.Tensor, plan: DecodingPlan, streamer: Any,
                generator: torch.Generator | None, context: Any = None) -> Any:
        config = plan.config
        cache = self._new_cache() if config.use_cache else None
        unfinished = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
        eos = torch.tensor(plan.eos_token_ids, dtype=ids.dtype, device=ids.device)
        scores, raw = [], []
        while ids.shape[-1] < plan.max_length:
            logits = self._step(ids, mask, cache, context)
            processed = logits
            for processor in plan.processors:
                processed = processor(ids, processed, ids.shape[-1], TORCH_OPS)
            if plan.mode == "sample":
                probs = processed.softmax(-1)
                tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            else:
                tokens = processed.argmax(-1)
            if plan.pad_token_id is not None:
                tokens = torch.where(unfinished, tokens, plan.pad_token_id)
            _keep(config, scores, processed, raw, logits)
            ids = torch.cat([ids, tokens[:, None]], dim=-1)
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=-1)
            if streamer is not None:
                streamer.put(tokens.cpu())
            if len(eos):
                unfinished = unfinished & ~torch.isin(tokens, eos)
            if not bool(unfinished.any()):
                break
        return self._generated(ids, plan, scores, raw)

    def _beam_search(self, ids: torch.Tensor, mask: torch.Tensor, plan: DecodingPlan, context: Any = None) -> Any:
        config = plan.config
        beams = config.num_beams
        batch = ids.shape[0]
        settings = beam_search.BeamSettings(
            batch=batch, beams=beams, vocab=self.config.vocab_size, prompt_length=plan.prompt_length,  # type: ignore[attr-defined]
            max_length=plan.max_length, eos_token_ids=plan.eos_token_ids, length_penalty=float(config.length_penalty),
            early_stopping=config.early_stopping, fill=beam_search.fill_value(plan.pad_token_id, plan.eos_token_ids))
        flat = ids.repeat_interleave(beams, dim=0)
        mask = mask.repeat_interleave(beams, dim=0)
        state = beam_search.start(flat.cpu(), settings, TORCH_OPS)
        context = self._expand_context(context, beams)
        cache = self._new_cache() if config.use_cache else None
        scores, raw = [], []
        length = plan.prompt_length
        while True:
            running = state.running.reshape(batch * beams, -1)[:, :length].to(ids.device)
            logits = self._step(running, mask, cache, context)
            log_probs = torch.log_softmax(logits, dim=-1)
            for processor in plan.processors:
                log_probs = processor(running, log_probs, length, TORCH_OPS)
            _keep(config, scores, log_probs, raw, logits)
            state, origin = beam_search.advance(state, log_probs.cpu(), length, settings, TORCH_OPS)
            if cache is not None:
                cache.reorder(origin.to(ids.device))
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=-1)
            length += 1
            if bool(beam_search.is_done(state, settings, TORCH_OPS)):
                break
        sequences, sequence_scores, added = beam_search.finish(state, settings, config.num_return_sequences, TORCH_OPS)
        sequences = sequences[:, :plan.prompt_length + int(added.max())].to(ids.device)
        return self._generated(sequences, plan, scores, raw, sequence_scores)

    @staticmethod
    def _generated(sequences: torch.Tensor, plan: DecodingPlan, scores: list, raw: list,
                   sequence_scores: torch.Tensor | None = None) -> Any:
        config = plan.config
        if not config.return_dict_in_generate:
            return sequences
        return ModelOutput(sequences=sequences, sequences_scores=sequence_scores if config.output_scores else None,
                           scores=tuple(scores) if config.output_scores else None,
                           logits=tuple(raw) if config.output_logits else None)


class Seq2SeqGenerationMixin(GenerationMixin):
    """``generate()`` for an encoder-decoder (T5): the encoder runs once on ``input_ids``; the decoder starts from
    ``decoder_start_token_id`` and runs one token a step with its self-attention cache, its cross-attention keys and
    values computed at the first step. The sequences returned are the decoder's, start token first."""

    @torch.inference_mode()
    def generate(self, input_ids: torch.Tensor | None = None, generation_config: GenerationConfig | None = None,
                 streamer: Any = None, generator: torch.Generator | None = None, **kwargs: Any) -> Any:
        if input_ids is None:
            raise ConfigError("generate() needs the encoder's token ids", where=f"{type(self).__name__}.generate",
                              expected="input_ids of shape [batch, length]", received=None)
        attention_mask = kwargs.pop("attention_mask", None)
        device = next(self.parameters()).device  # type: ignore[attr-defined]
        first = decoder_start_token(getattr(self, "generation_config", None), generation_config, kwargs, type(self).__name__)
        start = torch.full((int(input_ids.shape[0]), 1), first, dtype=torch.long, device=device)
        return self._decode(start, torch.ones_like(start), generation_config, streamer, generator, kwargs,
                            context=lambda plan: self._encoded(input_ids, attention_mask, plan))

    def _encoded(self, input_ids: Any, attention_mask: Any, plan: DecodingPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's last hidden state and its attention mask (inferred from padding when not given)."""
        input_ids, attention_mask = self._on_device(input_ids, attention_mask, plan)
        encoded = self.get_encoder()(input_ids, attention_mask)[0]  # type: ignore[attr-defined]
        return encoded, attention_mask

    def _new_cache(self) -> Any:
        return EncoderDecoderCache()

    def _expand_context(self, context: Any, beams: int) -> Any:
        encoded, mask = context
        return encoded.repeat_interleave(beams, dim=0), mask.repeat_interleave(beams, dim=0)

    def _step(self, ids: torch.Tensor, mask: torch.Tensor, cache: Any, context: Any = None) -> torch.Tensor:
        encoded, encoder_mask = context
        if cache is not None and cache.length:
            ids = ids[:, cache.length:]
        out = self(encoder_outputs=ModelOutput(last_hidden_state=encoded), attention_mask=encoder_mask,  # type: ignore[operator]
                   decoder_input_ids=ids, past_key_values=cache, use_cache=cache is not None)
        return out.logits[:, -1, :].float()
