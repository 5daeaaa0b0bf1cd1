"""The framework-neutral first half of every ``from_pretrained``: keywords, config and weights, from one commit.

:func:`resolve_pretrained` applies the keyword contract
(:mod:`modelport.modeling.keywords`), pins the Hub commit by downloading
``config.json`` first, builds the config (keyword arguments that are config
attributes override it), checks that the rest are arguments of the model
class, and finds and opens the weights in the framework's order of preference
from that same commit. The adapter then builds its model, loads the weights
(:func:`modelport.modeling.loading.load_weights`) and applies the options
(``dtype``, ``device_map``...) that are its own.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import frameworks
from ..auto import resolve_config
from ..config import PretrainedConfig
from ..dtypes import canonical_dtype
from ..errors import UnsupportedKeywordError
from ..hub import commit_of, download_file, find_checkpoint, is_local
from .keywords import check_keywords
from .loading import ArraySource, TensorSource

__all__ = ["Pretrained", "resolve_pretrained", "LOAD_OPTIONS"]

_HUB = ("cache_dir", "force_download", "local_files_only", "token", "revision")
#: honoured keywords the adapter itself applies, handed back in :attr:`Pretrained.options`
LOAD_OPTIONS = ("output_loading_info", "ignore_mismatched_sizes", "dtype", "device_map", "_do_init", "mmap", "mesh", "partition_rules",
                "device_mesh", "tp_plan", "fully_shard")
_ALWAYS = ("low_cpu_mem_usage",)  # honoured by the way modelport loads, nothing to do


@dataclass
class Pretrained:
    """What ``from_pretrained`` needs once files are found: the config, the weights, the rest of the arguments."""

    config: PretrainedConfig
    source: TensorSource
    #: keyword arguments for the model class's constructor
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    #: :data:`LOAD_OPTIONS` the caller gave
    options: dict[str, Any] = field(default_factory=dict)
    #: the Hub commit config and weights came from (None for local folders)
    commit: str | None = None
    #: the ``generation_config`` keyword, or the checkpoint's ``generation_config.json`` (None: neither, or the model
    #: class does not generate)
    generation_config: Any = None

    def auto_dtype(self) -> str:
        """What ``dtype="auto"`` means: the config's ``dtype`` if it names one, else the checkpoint's first floating dtype."""
        named = getattr(self.config, "dtype", None)
        if isinstance(named, str) and named not in ("auto", ""):
            return canonical_dtype(named)
        floating = (self.source.info(name).dtype for name in self.source)
        return next((dtype for dtype in floating if dtype.startswith(("float", "bfloat"))), "float32")


def resolve_pretrained(model_class: Any, name_or_path: str | os.PathLike[str], framework: str, kwargs: dict[str, Any],
                       *, to_numpy: Any = None) -> Pretrained:
    """Resolve the config and open the weights for ``model_class.from_pretrained``.

    Args:
        framework: the checkpoint framework of the calling adapter: its keyword rules and its preferred checkpoint.
        kwargs: every keyword argument of the call (explicit parameters included).
        to_numpy: turns the tensors of a ``state_dict`` argument into numpy arrays (PyTorch only).

    Raises:
        UnsupportedKeywordError: a refused keyword, or one that is neither a config attribute nor a constructor argument.
    """
    where = f"{model_class.__name__}.from_pretrained"
    kwargs = check_keywords("from_pretrained", framework, kwargs, where)
    for name in _ALWAYS:
        kwargs.pop(name, None)
    options = {name: kwargs.pop(name) for name in LOAD_OPTIONS if name in kwargs}
    hub = {name: kwargs.pop(name) for name in _HUB if name in kwargs}
    subfolder = kwargs.pop("subfolder", "") or ""
    variant = kwargs.pop("variant", None)
    use_safetensors = kwargs.pop("use_safetensors", None)
    state_dict = kwargs.pop("state_dict", None)
    wanted = [tag for tag in frameworks.BUILTIN if kwargs.pop(f"from_{tag}", False)]
    config = kwargs.pop("config", None)
    generation = kwargs.pop("generation_config", None)
    gguf_file = kwargs.pop("gguf_file", None)
    if gguf_file is not None:
        found = _resolve_gguf(model_class, name_or_path, gguf_file, config, kwargs, options, hub, subfolder, where)
        found.generation_config = generation
        return found

    commit = None
    if not is_local(name_or_path) and config is None and state_dict is None:
        # config.json first: its commit pins every later file, so config and weights are one version
        config_path = download_file(os.fspath(name_or_path), "config.json", subfolder=subfolder,
                                    **{k: v for k, v in hub.items() if v is not None})
        commit = commit_of(config_path)
        if commit is not None:
            hub["revision"] = commit
    config, model_kwargs = resolve_config(model_class.config_class, config, name_or_path, kwargs, subfolder=subfolder,
                                          **hub)
    _check_constructor_keywords(model_class, model_kwargs, where)

    if state_dict is not None:
        source: TensorSource = ArraySource({n: to_numpy(t) for n, t in state_dict.items()}, framework)
    else:
        order = wanted or [framework, *(tag for tag in frameworks.tags() if tag != framework)]
        _, source = find_checkpoint(name_or_path, order, subfolder=subfolder, variant=variant,
                                    use_safetensors=use_safetensors if order[0] == framework else None, **hub)
    if generation is None and callable(getattr(model_class, "generate", None)) and state_dict is None:
        generation = read_generation_config(name_or_path, subfolder, hub)
    return Pretrained(config, source, model_kwargs, options, commit, generation)


def read_generation_config(name_or_path: str | os.PathLike[str], subfolder: str, hub: dict[str, Any]) -> Any:
    """The checkpoint's ``generation_config.json`` (from the pinned commit on the Hub), or None when it has none."""
    from ..errors import CheckpointNotFoundError, HubFileNotFoundError
    from ..generation import GENERATION_CONFIG_NAME, GenerationConfig

    if is_local(name_or_path) and not (Path(os.fspath(name_or_path)) / subfolder / GENERATION_CONFIG_NAME).is_file():
        return None
    try:
        return GenerationConfig.from_pretrained(name_or_path, subfolder=subfolder, **{k: v for k, v in hub.items() if v is not None})
    except (CheckpointNotFoundError, HubFileNotFoundError):
        return None


def _resolve_gguf(model_class: Any, name_or_path: str | os.PathLike[str], gguf_file: str, config: Any, kwargs: dict[str, Any],
                  options: dict[str, Any], hub: dict[str, Any], subfolder: str, where: str) -> Pretrained:
    """``gguf_file=``: the file from the folder or the Hub; its metadata is the config unless one is given."""
    from ..auto import AutoConfig, gguf_file_path
    from ..checkpoint import Checkpoint

    path = gguf_file_path(name_or_path, gguf_file, subfolder, **hub)
    checkpoint = Checkpoint.open(path, format="gguf")
    if config is None:
        config = AutoConfig.for_model(**checkpoint.gguf_config)
        for key in [k for k in kwargs if hasattr(config, k)]:  # as with config.json: attributes override, the rest is the model's
            setattr(config, key, kwargs.pop(key))
    config, model_kwargs = resolve_config(model_class.config_class, config, name_or_path, kwargs)
    _check_constructor_keywords(model_class, model_kwargs, where)
    return Pretrained(config, checkpoint, model_kwargs, options, None if is_local(name_or_path) else commit_of(path))


def _check_constructor_keywords(model_class: Any, kwargs: dict[str, Any], where: str) -> None:
    """Keywords left after the config took its attributes must be arguments of the model class."""
    if not kwargs:
        return
    parameters = inspect.signature(model_class.__init__).parameters
    named = {n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self", "config"}
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        extra = getattr(model_class, "_extra_init_keywords", None)
        if extra is None:
            return  # the constructor takes anything: it will say what it refuses
        named |= set(extra)
    unknown = sorted(set(kwargs) - named)
    if unknown:
        raise UnsupportedKeywordError(
            "unknown keyword argument", where=where, received=", ".join(unknown),
            expected="a keyword of the transformers 4.x contract (docs/keywords.md), an attribute of "
                     f"{model_class.config_class.__name__}, or an argument of {model_class.__name__}"
                     + (f" ({', '.join(sorted(named))})" if named else ""),
            fix="Check the spelling; see docs/keywords.md for what modelport does with each transformers keyword.",
        )
