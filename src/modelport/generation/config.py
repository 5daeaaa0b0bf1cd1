"""``GenerationConfig``: how ``generate()`` decodes, with transformers 4.57.6's field names, defaults, validation and
``generation_config.json`` format, so that a file either library writes reads the same in the other.

The fields and their defaults are data (:data:`FIELDS`), in transformers' order; values
a file holds beyond them are kept as attributes and written back, as transformers does.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointNotFoundError, ConfigError
from ..fsutil import write_text_atomic
from ..jsonio import dump_json, read_json_file
from ..locations import check_not_weights_file, is_local

__all__ = ["GENERATION_CONFIG_NAME", "FIELDS", "GenerationConfig"]

logger = logging.getLogger(__name__)

GENERATION_CONFIG_NAME = "generation_config.json"
_MAX_BYTES = 4 * 1024 * 1024

#: every field and its default, grouped as transformers 4.57.6 documents them
FIELDS: dict[str, Any] = {
    # length
    "max_length": 20, "max_new_tokens": None, "min_length": 0, "min_new_tokens": None, "early_stopping": False,
    "max_time": None, "stop_strings": None,
    # strategy
    "do_sample": False, "num_beams": 1,
    # cache
    "use_cache": True, "cache_implementation": None, "cache_config": None, "return_legacy_cache": None,
    "prefill_chunk_size": None,
    # logits processors and warpers
    "temperature": 1.0, "top_k": 50, "top_p": 1.0, "min_p": None, "typical_p": 1.0, "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0, "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "length_penalty": 1.0,
    "no_repeat_ngram_size": 0, "bad_words_ids": None, "renormalize_logits": False, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "remove_invalid_values": False, "exponential_decay_length_penalty": None,
    "suppress_tokens": None, "begin_suppress_tokens": None, "sequence_bias": None, "token_healing": False,
    "guidance_scale": None, "watermarking_config": None,
    # outputs
    "num_return_sequences": 1, "output_attentions": False, "output_hidden_states": False, "output_scores": False,
    "output_logits": None, "return_dict_in_generate": False,
    # special tokens
    "pad_token_id": None, "bos_token_id": None, "eos_token_id": None,
    # encoder-decoder models
    "encoder_no_repeat_ngram_size": 0, "decoder_start_token_id": None,
    # assisted generation
    "is_assistant": False, "num_assistant_tokens": 20, "num_assistant_tokens_schedule": "constant",
    "assistant_confidence_threshold": 0.4, "prompt_lookup_num_tokens": None, "max_matching_ngram_size": None,
    "assistant_early_exit": None, "assistant_lookbehind": 10, "target_lookbehind": 10,
    # performance
    "disable_compile": False,
    # deprecated in transformers 4.57 (moved to Hub code), still read and written
    "low_memory": None, "penalty_alpha": None, "dola_layers": None, "diversity_penalty": 0.0, "num_beam_groups": 1,
    "constraints": None, "force_words_ids": None,
}

#: not part of what a config says: where it came from, and the writer's version
_METADATA = ("_from_model_config", "_commit_hash", "_original_object_hash", "transformers_version")
#: the only private keys a file may set
_PRIVATE_KEYS_READ = {"_from_model_config", "_commit_hash"}
#: fields transformers' constructor never takes from its arguments
_NOT_FROM_ARGUMENTS = {"is_assistant"}
CACHE_IMPLEMENTATIONS = ("static", "offloaded_static", "sliding_window", "hybrid", "hybrid_chunked", "offloaded_hybrid",
                         "offloaded_hybrid_chunked", "dynamic", "dynamic_full", "offloaded", "quantized")
#: ``generate()`` arguments that are mistakes inside a config
_GENERATE_ARGUMENTS = ("logits_processor", "stopping_criteria", "prefix_allowed_tokens_fn", "synced_gpus", "assistant_model",
                       "streamer", "negative_prompt_ids", "negative_prompt_attention_mask", "use_model_defaults")
#: sampling-only fields and the value at which they do nothing
_SAMPLING_ONLY = {"temperature": 1.0, "top_p": 1.0, "min_p": None, "typical_p": 1.0, "top_k": 50, "epsilon_cutoff": 0.0,
                  "eta_cutoff": 0.0}
_BEAM_ONLY = {"early_stopping": False, "length_penalty": 1.0}
#: the types of fields whose default is None
_UNSET_TYPES: dict[str, tuple[type, ...]] = {
    "max_new_tokens": (int,), "min_new_tokens": (int,), "max_time": (int, float), "min_p": (int, float),
    "pad_token_id": (int,), "bos_token_id": (int,), "eos_token_id": (int, list), "decoder_start_token_id": (int, list),
    "forced_bos_token_id": (int,), "forced_eos_token_id": (int, list), "prefill_chunk_size": (int,),
    "output_logits": (bool,), "return_legacy_cache": (bool,), "low_memory": (bool,),
}


class GenerationConfig:
    """The decoding settings of ``generate()`` (see :data:`FIELDS` for every field and its default).

    Example:
        >>> config = GenerationConfig(max_new_tokens=24, do_sample=True, top_p=0.9)
        >>> config.top_k, config.max_new_tokens
        (50, 24)
    """

    extra_output_flags = ("output_attentions", "output_hidden_states", "output_scores", "output_logits")

    if TYPE_CHECKING:  # the fields are set from FIELDS, and a file may add more
        def __getattr__(self, name: str) -> Any: ...

    def __init__(self, **kwargs: Any) -> None:
        for name, default in FIELDS.items():
            value = default if name in _NOT_FROM_ARGUMENTS else kwargs.pop(name, default)
            setattr(self, name, copy.deepcopy(value))
        kwargs.pop("is_assistant", None)
        self.compile_config = kwargs.pop("compile_config", None)  # a torch.compile setting; never saved
        self._from_model_config = bool(kwargs.pop("_from_model_config", False))
        self._commit_hash = kwargs.pop("_commit_hash", None)
        self.transformers_version = kwargs.pop("transformers_version", None)
        if not self._from_model_config:  # a model config's other values are not generation settings
            for key, value in kwargs.items():
                setattr(self, key, value)
        self.validate()

    # -- validation -----------------------------------------------------------------------------
    def validate(self, strict: bool = False) -> None:
        """Refuse values no decoding can use; warn (or, ``strict``, refuse) about settings that have no effect."""
        where = type(self).__name__
        self._check_types(where)
        if self.early_stopping not in (True, False, "never"):
            raise ConfigError("early_stopping is neither a boolean nor 'never'", where=where,
                              expected="True, False or 'never'", received=self.early_stopping)
        if self.max_new_tokens is not None and self.max_new_tokens <= 0:
            raise ConfigError("max_new_tokens must be positive", where=where, expected="an integer > 0",
                              received=self.max_new_tokens)
        if self.cache_implementation is not None and self.cache_implementation not in CACHE_IMPLEMENTATIONS:
            raise ConfigError("unknown cache_implementation", where=where, expected=", ".join(CACHE_IMPLEMENTATIONS),
                              received=self.cache_implementation)
        if self.num_return_sequences != 1:
            if self.num_beams == 1 and not self.do_sample:
                raise ConfigError("greedy decoding returns one sequence per input", where=where,
                                  expected="num_return_sequences=1, or do_sample=True, or num_beams > 1",
                                  received=f"num_return_sequences={self.num_return_sequences}")
            if self.num_beams > 1 and self.num_return_sequences > self.num_beams:
                raise ConfigError("beam search returns at most num_beams sequences per input", where=where,
                                  expected=f"num_return_sequences <= num_beams ({self.num_beams})",
                                  received=self.num_return_sequences)
        for name in _GENERATE_ARGUMENTS:
            if name in vars(self):
                raise ConfigError(f"{name!r} is an argument of generate(), not a generation setting", where=where,
                                  fix=f"Pass {name}= to generate() instead.")
        issues = self._ineffective_settings()
        if issues and strict:
            raise ConfigError("settings that have no effect", where=where, received="; ".join(issues))
        if issues:
            logger.warning("%s: these generation settings have no effect: %s", where, "; ".join(issues))

    def _check_types(self, where: str) -> None:
        """Each field holds its default's type (or None): a string where a number belongs is refused here, not mid-decoding."""
        for name, default in FIELDS.items():
            value = getattr(self, name)
            if value is None or name == "early_stopping":
                continue
            if default is None:
                kinds = _UNSET_TYPES.get(name, (object,))
                fits = isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))
            elif isinstance(default, bool):
                fits = isinstance(value, bool)
            elif isinstance(default, int):
                fits = isinstance(value, int) and not isinstance(value, bool)
            elif isinstance(default, float):
                fits = isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                fits = isinstance(value, type(default))
            if not fits:
                expected = " or ".join(k.__name__ for k in _UNSET_TYPES.get(name, (type(default),)))
                raise ConfigError(f"{name} has the wrong type", where=where, expected=expected,
                                  received=f"{value!r} ({type(value).__name__})")

    def _ineffective_settings(self) -> list[str]:
        issues = []
        if self.pad_token_id is not None and self.pad_token_id < 0:
            issues.append(f"pad_token_id={self.pad_token_id} is negative: padded batches cannot be generated")
        if not self.do_sample:
            issues += [f"{name}={getattr(self, name)} is used only when sampling (do_sample=True)"
                       for name, inert in _SAMPLING_ONLY.items() if getattr(self, name) not in (None, inert)]
        if self.num_beams == 1:
            issues += [f"{name}={getattr(self, name)} is used only by beam search (num_beams > 1)"
                       for name, inert in _BEAM_ONLY.items() if getattr(self, name) not in (None, inert)]
        if self.use_cache is False:
            issues += [f"{name} is set but use_cache is False" for name in ("cache_implementation", "cache_config",
                                                                             "return_legacy_cache")
                       if getattr(self, name) is not None]
        if self.return_dict_in_generate is not True:
            issues += [f"{flag} needs return_dict_in_generate=True" for flag in self.extra_output_flags
                       if getattr(self, flag) is True]
        return issues

    # -- dictionaries and JSON --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every saved attribute (the compile setting and the commit are never saved)."""
        output = {k: copy.deepcopy(v) for k, v in vars(self).items()
                  if k not in ("compile_config", "_commit_hash", "_original_object_hash")}
        if output.get("transformers_version") is None:
            output.pop("transformers_version", None)
        return output

    def to_diff_dict(self) -> dict[str, Any]:
        """What differs from the defaults (what ``generation_config.json`` holds), with the writer's version."""
        defaults = _defaults_dict()
        return {k: v for k, v in self.to_dict().items()
                if k not in defaults or k == "transformers_version" or v != defaults[k]}

    def to_json_string(self, use_diff: bool = True, ignore_metadata: bool = False) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        if ignore_metadata:
            data = {k: v for k, v in data.items() if k not in _METADATA}
        return dump_json(_string_keys(data), where=type(self).__name__, error=ConfigError)

    def to_json_file(self, json_file_path: str | os.PathLike[str], use_diff: bool = True) -> None:
        write_text_atomic(json_file_path, self.to_json_string(use_diff=use_diff))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GenerationConfig):
            return False
        return (self.to_json_string(use_diff=False, ignore_metadata=True)
                == other.to_json_string(use_diff=False, ignore_metadata=True))

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string(ignore_metadata=True)}"

    def update(self, **kwargs: Any) -> dict[str, Any]:
        """Set the known fields among ``kwargs``, validate, and return the others."""
        unused = {}
        for key, value in kwargs.items():
            if hasattr(self, key):
                setattr(self, key, value)
            else:
                unused[key] = value
        self.validate()
        return unused

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> Any:
        """A config from a dictionary; ``kwargs`` override it (``return_unused_kwargs=True`` also returns the unknown)."""
        return_unused = kwargs.pop("return_unused_kwargs", False)
        config = cls(**{**config_dict, **kwargs})
        unused = config.update(**kwargs)
        return (config, unused) if return_unused else config

    @classmethod
    def from_model_config(cls, model_config: Any) -> GenerationConfig:
        """The generation settings a model config carries (transformers 3.x-era configs hold them there)."""
        values = {k: v for k, v in model_config.to_dict().items() if v is not None and k != "_from_model_config"}
        config = cls.from_dict(values, _from_model_config=True)
        if config.return_dict_in_generate is False and any(getattr(config, f, False) for f in cls.extra_output_flags):
            config.return_dict_in_generate = True
        return config

    @classmethod
    def from_pretrained(cls, pretrained_model_name: str | os.PathLike[str], config_file_name: str | None = None,
                        cache_dir: str | os.PathLike[str] | None = None, force_download: bool = False,
                        local_files_only: bool = False, token: str | bool | None = None, revision: str = "main",
                        **kwargs: Any) -> Any:
        """Read ``generation_config.json`` from a folder, a JSON file or a Hub repo; ``kwargs`` override its values."""
        name = config_file_name or GENERATION_CONFIG_NAME
        subfolder = kwargs.pop("subfolder", "") or ""
        for ignored in ("proxies", "use_auth_token", "_from_auto", "_from_pipeline"):
            kwargs.pop(ignored, None)
        path = Path(os.fspath(pretrained_model_name))
        if is_local(pretrained_model_name):
            check_not_weights_file(path, "loading a generation config")
            config_file = path if path.is_file() else path / subfolder / name
        else:
            from ..hub import download_file

            config_file = Path(download_file(os.fspath(pretrained_model_name), name, subfolder=subfolder, revision=revision,
                                             cache_dir=cache_dir, force_download=force_download,
                                             local_files_only=local_files_only, token=token))
        if not config_file.is_file():
            raise CheckpointNotFoundError(f"no {name} found", where=os.fspath(config_file),
                                          expected=f"a folder holding {name}, a JSON file or a Hub repo id",
                                          received=os.fspath(pretrained_model_name))
        return cls.from_dict(read_config_file(config_file), **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike[str], config_file_name: str | None = None,
                        push_to_hub: bool = False, **kwargs: Any) -> Any:
        """Write ``generation_config.json`` (only what differs from the defaults) into ``save_directory``."""
        self.validate(strict=True)
        directory = Path(save_directory)
        if directory.is_file():
            raise ConfigError("expected a folder to save into, found a file", where=os.fspath(directory))
        directory.mkdir(parents=True, exist_ok=True)
        self.to_json_file(directory / (config_file_name or GENERATION_CONFIG_NAME))
        if push_to_hub:
            from ..hub import upload_folder

            repo_id = kwargs.pop("repo_id", directory.name)
            return upload_folder(directory, repo_id, commit_message=kwargs.pop("commit_message", None) or "Upload generation config",
                                 **{k: v for k, v in kwargs.items()
                                    if k in ("private", "token", "create_pr", "revision", "commit_description")})
        return None

    # -- what the settings select ----------------------------------------------------------------
    @property
    def eos_token_ids(self) -> list[int]:
        """``eos_token_id`` as a list (it may be one id, several, or none)."""
        eos = self.eos_token_id
        return [] if eos is None else [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``generation_config.json`` as a dictionary, bounded in size, with private keys other than the known ones left out."""
    config_dict = read_json_file(path, max_bytes=_MAX_BYTES, error=ConfigError)
    for key in [k for k in config_dict if k.startswith("_") and k not in _PRIVATE_KEYS_READ]:
        logger.warning("%s: ignoring the private key %r", path, key)
        del config_dict[key]
    return config_dict


def _defaults_dict() -> dict[str, Any]:
    return {**copy.deepcopy(FIELDS), "_from_model_config": False}


def _string_keys(value: Any) -> Any:
    """JSON objects have string keys (``sequence_bias`` may be keyed by token tuples in memory)."""
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value
