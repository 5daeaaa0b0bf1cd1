"""What one ``generate()`` call will do, decided once in the core for every framework: the settings (the model's
generation config updated by the call's keywords), the lengths, the special tokens and the processors."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, UnsupportedKeywordError
from .config import GenerationConfig
from .processors import LogitsProcessor, logits_processors

__all__ = ["DecodingPlan", "LoopSettings", "plan_decoding", "loop_settings", "mask_from_padding"]

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class DecodingPlan:
    config: GenerationConfig
    prompt_length: int
    max_length: int
    pad_token_id: int | None
    eos_token_ids: tuple[int, ...]
    processors: tuple[LogitsProcessor, ...]

    @property
    def mode(self) -> str:
        """``greedy``, ``sample``, ``beam`` or ``beam_sample``."""
        if self.config.num_beams > 1:
            return "beam_sample" if self.config.do_sample else "beam"
        return "sample" if self.config.do_sample else "greedy"

    @property
    def new_tokens(self) -> int:
        return self.max_length - self.prompt_length


def plan_decoding(default: GenerationConfig | None, generation_config: GenerationConfig | None, prompt_length: int,
                  keywords: dict[str, Any], model_name: str, outputs: tuple[str, ...] = ("scores",)) -> DecodingPlan:
    """The plan for a prompt of ``prompt_length`` tokens. ``keywords`` (what the framework's ``generate()`` did not take
    itself) override ``generation_config`` (or the model's ``default``); one that is not a setting is refused by name,
    never ignored (transformers' ``logits_processor=``, ``stopping_criteria=`` and model inputs other than the ids and
    the mask included). ``outputs`` are the ``output_*`` flags the framework's generate() returns; asking for another is
    refused rather than answered without it."""
    config = copy.deepcopy(generation_config or default or GenerationConfig())
    settings = dict(keywords)
    unknown = [k for k in settings if not hasattr(config, k)]
    if unknown:
        raise UnsupportedKeywordError(f"generate() does not take {', '.join(map(repr, unknown))}", where=model_name,
                                      expected="generation settings (modelport.generation.FIELDS), the ids, the "
                                               "attention mask, and the framework's seed or streamer",
                                      fix="Check the spelling; custom logits processors, stopping criteria and other model "
                                          "inputs are not taken by modelport's generate().")
    config.update(**settings)
    missing = [flag for flag in config.extra_output_flags if config.return_dict_in_generate and getattr(config, flag)
               and flag.removeprefix("output_") not in outputs]
    if missing:
        raise ConfigError("generate() here does not return what these settings ask for", where=model_name,
                          received=", ".join(missing), expected=", ".join(f"output_{o}" for o in outputs),
                          fix="Unset them; run the model on the returned sequences for hidden states or attentions.")
    if config.num_beam_groups > 1 or config.do_sample and config.num_beams > 1:
        raise ConfigError("modelport generates greedily, by sampling, or by beam search; not by sampled or grouped beams",
                          where=model_name, received=f"num_beams={config.num_beams}, do_sample={config.do_sample}, "
                                                     f"num_beam_groups={config.num_beam_groups}")
    max_length = prompt_length + config.max_new_tokens if config.max_new_tokens is not None else config.max_length
    if max_length <= prompt_length:
        raise ConfigError("the prompt is already as long as max_length: nothing would be generated", where=model_name,
                          expected=f"max_length > {prompt_length} (the prompt's length)", received=max_length,
                          fix="Pass max_new_tokens= instead of max_length=.")
    eos = tuple(config.eos_token_ids)
    pad = config.pad_token_id
    if pad is None and eos:
        logger.warning("%s: pad_token_id is not set; finished rows are padded with eos_token_id %d", model_name, eos[0])
        pad = eos[0]
    return DecodingPlan(config, prompt_length, max_length, pad, eos, tuple(logits_processors(config, prompt_length)))


@dataclass(frozen=True)
class LoopSettings:
    """What a compiled decoding loop (JAX, TF) is specialised on: hashable, so the compiled function is kept per value."""

    mode: str
    prompt_length: int
    max_length: int
    pad: int
    eos: tuple[int, ...]
    processors: tuple[LogitsProcessor, ...]
    beams: int
    returned: int
    length_penalty: float
    early_stopping: Any
    vocab: int
    output_scores: bool


def loop_settings(plan: DecodingPlan, vocab: int) -> LoopSettings:
    config = plan.config
    pad = plan.pad_token_id if plan.pad_token_id is not None else 0
    return LoopSettings(plan.mode, plan.prompt_length, plan.max_length, pad, plan.eos_token_ids, plan.processors,
                        int(config.num_beams), int(config.num_return_sequences), float(config.length_penalty),
                        config.early_stopping, vocab, bool(config.output_scores and config.return_dict_in_generate))


def mask_from_padding(ids: np.ndarray, plan: DecodingPlan) -> np.ndarray:
    """transformers' inference of a missing attention mask: the pad tokens are masked when the pad token is set,
    appears, and is no end token; otherwise every token counts."""
    pad = plan.config.pad_token_id
    if pad is not None and (ids == pad).any() and pad not in plan.eos_token_ids:
        return (ids != pad).astype(np.int32)
    return np.ones_like(ids, dtype=np.int32)


def decoder_start_token(default: GenerationConfig | None, generation_config: GenerationConfig | None,
                        keywords: dict[str, Any], model_name: str) -> int:
    """The first token of an encoder-decoder's output, in transformers' order: the call's ``decoder_start_token_id``,
    the generation config's, then ``bos_token_id`` likewise."""
    config = generation_config or default or GenerationConfig()
    for value in (keywords.get("decoder_start_token_id"), config.decoder_start_token_id, keywords.get("bos_token_id"),
                  config.bos_token_id):
        if value is not None:
            return int(value[0] if isinstance(value, (list, tuple)) else value)
    raise ConfigError("an encoder-decoder's generate() needs the decoder's first token", where=model_name,
                      expected="decoder_start_token_id (T5: 0, its pad token)", received=None,
                      fix="Pass decoder_start_token_id= or set it in the generation config.")
