"""Model configurations: ``PretrainedConfig`` as transformers 4.x users know it.

A config is a bag of attributes read from and written to ``config.json``.
The behaviour follows transformers 4.x where users rely on it:

* ``save_pretrained`` writes the *diff form*: sorted keys, indent 2, a trailing
  newline, only values that differ from the defaults, plus every attribute the
  subclass defines and ``model_type``. A ``config.json`` written by
  transformers 4.57 and saved again here comes out byte-identical.
* unknown keys are kept as attributes and written back;
* ``dtype`` is read from ``dtype`` or the legacy ``torch_dtype`` key and kept as
  a canonical name (``"float32"``, ``"bfloat16"``...), never a framework object;
* ``id2label`` keys are turned back into ints and ``num_labels`` follows it;
* keyword arguments given to ``from_pretrained`` override known attributes and,
  with ``return_unused_kwargs=True``, the rest are handed back.

Two deliberate differences, both safer: ``transformers_version`` is written only
if it was read (modelport does not claim to be transformers), and private keys
(starting with ``_``) in a file are ignored with a warning, because in
transformers they can select code paths.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .activations import ACTIVATIONS
from .dtypes import canonical_dtype
from .errors import CheckpointNotFoundError, ConfigError, DtypeError
from .fsutil import write_text_atomic
from .hub import PushToHubMixin
from .jsonio import dump_json, read_json_file
from .locations import check_not_weights_file, is_local

__all__ = ["CONFIG_NAME", "PretrainedConfig"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
#: largest config.json read; real ones are a few kB
MAX_CONFIG_BYTES = 4 * 1024 * 1024

_ConfigT = TypeVar("_ConfigT", bound="PretrainedConfig")

# Generation parameters that transformers 4.x still sets on every config for
# backward compatibility. They are defaults, so they are only written when changed.
_GENERATION_DEFAULTS: dict[str, Any] = {
    "max_length": 20,
    "min_length": 0,
    "do_sample": False,
    "early_stopping": False,
    "num_beams": 1,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "typical_p": 1.0,
    "repetition_penalty": 1.0,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "num_return_sequences": 1,
    "output_scores": False,
    "return_dict_in_generate": False,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "remove_invalid_values": False,
    "exponential_decay_length_penalty": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "num_beam_groups": 1,
    "diversity_penalty": 0.0,
}

# Attributes common to all models, with transformers 4.x's defaults.
_COMMON_DEFAULTS: dict[str, Any] = {
    "return_dict": True,
    "output_hidden_states": False,
    "output_attentions": False,
    "torchscript": False,
    "dtype": None,
    "pruned_heads": None,
    "tie_word_embeddings": True,
    "chunk_size_feed_forward": 0,
    "is_encoder_decoder": False,
    "is_decoder": False,
    "cross_attention_hidden_size": None,
    "add_cross_attention": False,
    "tie_encoder_decoder": False,
    "architectures": None,
    "finetuning_task": None,
    "task_specific_params": None,
    "problem_type": None,
    "tokenizer_class": None,
    "prefix": None,
    "bos_token_id": None,
    "pad_token_id": None,
    "eos_token_id": None,
    "sep_token_id": None,
    "decoder_start_token_id": None,
    "tf_legacy_loss": False,
    "use_bfloat16": False,
}

#: integer sizes that drive allocation: refused outside 0.._MAX_SIZE before any model is built
_SIZE_KEYS = frozenset({
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "max_position_embeddings", "type_vocab_size", "n_inner", "n_ctx", "num_labels", "n_embd", "n_layer", "n_head",
    "n_positions",
})
_MAX_SIZE = 2**31 - 1
_MAX_TABLE_VALUES = 2**36  # 64 G values (256 GB of float32) in one embedding table
_ACTIVATION_KEYS = frozenset({"hidden_act", "activation_function"})
_PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
# Private keys a file may carry harmlessly; any other "_" key is dropped.
_ALLOWED_PRIVATE_KEYS = {"_name_or_path", "_commit_hash"}


def _finite_float(value: int | float) -> bool:
    """Whether a JSON number is a finite float (an integer too large for a float is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _normalise_dtype(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value == "auto":
        return "auto"
    try:
        return canonical_dtype(value)
    except DtypeError as exc:
        raise ConfigError(
            "unknown dtype in the configuration",
            where=where,
            expected="a dtype name such as 'float32', 'float16' or 'bfloat16'",
            received=value,
        ) from exc


class PretrainedConfig(PushToHubMixin):
    """Base class of model configurations.

    Subclasses set ``model_type`` and define their attributes as named
    parameters of ``__init__`` with transformers' defaults; ``attribute_map``
    gives aliases (GPT-2's ``hidden_size`` is ``n_embd``).

    Example:
        >>> from modelport import BertConfig
        >>> config = BertConfig(hidden_size=128, num_labels=3)
        >>> config.num_labels, config.id2label[2]
        (3, 'LABEL_2')
    """

    model_type: ClassVar[str] = ""
    attribute_map: ClassVar[dict[str, str]] = {}
    has_no_defaults_at_init: ClassVar[bool] = False
    _auto_class: ClassVar[str | None] = None
    # set in __init__ from _COMMON_DEFAULTS (declared here for type checkers)
    pruned_heads: dict[Any, Any]
    problem_type: str | None

    def __init__(self, **kwargs: Any) -> None:
        where = f"{type(self).__name__}"
        torch_dtype = kwargs.pop("torch_dtype", None)
        dtype = kwargs.pop("dtype", None)
        if dtype is None:
            dtype = torch_dtype

        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        if id2label is not None and not isinstance(id2label, dict):
            raise ConfigError("id2label must be a mapping", where=where, received=type(id2label).__name__)
        if label2id is not None and not isinstance(label2id, dict):
            raise ConfigError("label2id must be a mapping", where=where, received=type(label2id).__name__)
        if num_labels is not None and id2label is not None and len(id2label) != num_labels:
            logger.warning(
                "num_labels=%s does not match the %d entries of id2label; id2label wins.", num_labels, len(id2label)
            )

        for key, default in _COMMON_DEFAULTS.items():
            setattr(self, key, kwargs.pop(key, copy.deepcopy(default)))
        self.dtype = _normalise_dtype(dtype, where)
        if self.pruned_heads is None:
            self.pruned_heads = {}
        if self.problem_type is not None and self.problem_type not in _PROBLEM_TYPES:
            raise ConfigError(
                "problem_type is not understood", where=where, expected=" or ".join(_PROBLEM_TYPES), received=self.problem_type
            )

        self.label2id = label2id
        if id2label is None:
            self._create_id_label_maps(num_labels if num_labels is not None else 2)
        else:
            try:
                self.id2label = {int(k): v for k, v in id2label.items()}
            except (TypeError, ValueError):
                raise ConfigError("id2label keys must be integers", where=where, received=list(id2label)[:5]) from None

        for key, default in _GENERATION_DEFAULTS.items():
            setattr(self, key, kwargs.pop(key, copy.deepcopy(default)))

        self._name_or_path = str(kwargs.pop("name_or_path", kwargs.pop("_name_or_path", "")))
        self._commit_hash = kwargs.pop("_commit_hash", None)
        self._attn_implementation = kwargs.pop("attn_implementation", None)
        self.transformers_version = kwargs.pop("transformers_version", None)

        # Everything else is kept as it came, so that unknown keys round-trip.
        for key, value in kwargs.items():
            setattr(self, key, value)

    # -- aliases and derived attributes ---------------------------------------
    def __setattr__(self, key: str, value: Any) -> None:
        key = type(self).attribute_map.get(key, key)
        if key == "dtype":
            value = _normalise_dtype(value, type(self).__name__)
        super().__setattr__(key, value)

    def __getattr__(self, key: str) -> Any:
        # Only called when normal lookup fails: resolve aliases such as GPT-2's hidden_size.
        target = type(self).attribute_map.get(key)
        if target is not None:
            return getattr(self, target)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    def _create_id_label_maps(self, num_labels: int) -> None:
        self.id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
        self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def num_labels(self) -> int:
        """The number of labels, always ``len(id2label)``."""
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, num_labels: int) -> None:
        if self.id2label is None or len(self.id2label) != num_labels:
            self._create_id_label_maps(num_labels)

    @property
    def name_or_path(self) -> str:
        """Where the config was loaded from (not saved)."""
        return self._name_or_path

    @name_or_path.setter
    def name_or_path(self, value: Any) -> None:
        self._name_or_path = str(value)

    @property
    def torch_dtype(self) -> str | None:
        """Legacy name of :attr:`dtype`."""
        return self.dtype

    @torch_dtype.setter
    def torch_dtype(self, value: Any) -> None:
        self.dtype = value

    @property
    def use_return_dict(self) -> bool:
        return bool(self.return_dict and not self.torchscript)

    # -- dictionaries and JSON -----------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every attribute that is saved, with ``model_type``, as plain JSON types."""
        output = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if not k.startswith("_")}
        output["_name_or_path"] = self._name_or_path
        output["model_type"] = type(self).model_type
        if output.get("transformers_version") is None:
            output.pop("transformers_version", None)
        for key, value in output.items():
            if isinstance(value, PretrainedConfig):
                output[key] = value.to_dict()
        return output

    def to_diff_dict(self) -> dict[str, Any]:
        """Only what differs from the defaults, plus every attribute the subclass defines."""
        config_dict = self.to_dict()
        base_defaults = PretrainedConfig().to_dict()
        class_defaults = type(self)().to_dict() if not self.has_no_defaults_at_init else {}
        diff: dict[str, Any] = {}
        for key, value in config_dict.items():
            if (
                key not in base_defaults
                or key == "transformers_version"
                or value != base_defaults[key]
                or value != class_defaults.get(key, value)
            ):
                diff[key] = value
        diff.pop("_name_or_path", None)
        return diff

    def to_json_string(self, use_diff: bool = True) -> str:
        """The JSON text ``save_pretrained`` writes (sorted keys, indent 2, trailing newline)."""
        data = self.to_diff_dict() if use_diff else self.to_dict()
        return dump_json(data, where=type(self).__name__, error=ConfigError)

    def to_json_file(self, json_file_path: str | os.PathLike[str], use_diff: bool = True) -> None:
        """Write :meth:`to_json_string` to a file, atomically."""
        write_text_atomic(json_file_path, self.to_json_string(use_diff=use_diff))

    def __eq__(self, other: object) -> bool:
        # Where a config was loaded from is not part of what it says.
        if not isinstance(other, PretrainedConfig):
            return False
        mine, theirs = self.to_dict(), other.to_dict()
        mine.pop("_name_or_path"), theirs.pop("_name_or_path")
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]  # mutable, like transformers' configs

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    def __iter__(self):
        yield from self.__dict__

    def update(self, config_dict: dict[str, Any]) -> None:
        """Set every key of ``config_dict`` as an attribute."""
        for key, value in config_dict.items():
            setattr(self, key, value)

    def update_from_string(self, update_str: str) -> None:
        """Update existing attributes from ``"n_embd=10,resid_pdrop=0.2,scale_attn_weights=false"``.

        Values are parsed by the type of the current value (bool, int, float, str).
        """
        where = f"{type(self).__name__}.update_from_string"
        for item in update_str.split(","):
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError("each item must look like key=value", where=where, received=item)
            if not hasattr(self, key):
                raise ConfigError(f"the key {key!r} is not in the configuration", where=where, fix="Only existing keys can be updated.")
            old = getattr(self, key)
            value: Any
            if isinstance(old, bool):
                lowered = text.strip().lower()
                if lowered in ("true", "1", "y", "yes"):
                    value = True
                elif lowered in ("false", "0", "n", "no"):
                    value = False
                else:
                    raise ConfigError(f"cannot read a boolean for {key!r}", where=where, expected="true or false", received=text)
            elif isinstance(old, (int, float, str)):
                try:
                    value = type(old)(text)
                except ValueError:
                    raise ConfigError(
                        f"cannot read a value for {key!r}", where=where, expected=type(old).__name__, received=text
                    ) from None
            else:
                raise ConfigError(
                    f"only bool, int, float and str attributes can be updated from a string; {key!r} is {type(old).__name__}",
                    where=where,
                )
            setattr(self, key, value)

    # -- construction from files and dicts -------------------------------------
    @classmethod
    def _declared_defaults(cls) -> dict[str, Any]:
        """The subclass's named ``__init__`` parameters and their defaults."""
        params: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None or klass is PretrainedConfig or not issubclass(klass, PretrainedConfig):
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty:
                    params[p.name] = p.default
        return params

    @classmethod
    def _check_value_types(cls, config_dict: dict[str, Any], where: str) -> None:
        """Refuse values whose type cannot be what the attribute's default says."""
        defaults = dict(_COMMON_DEFAULTS, **_GENERATION_DEFAULTS)
        defaults.update(cls._declared_defaults())
        for key, value in config_dict.items():
            key = cls.attribute_map.get(key, key)
            if key not in defaults or value is None:
                continue
            default = defaults[key]
            if key.endswith("_token_id") and isinstance(value, list):
                ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)  # several eos ids
            elif isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif isinstance(default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite_float(value)
            elif isinstance(default, str):
                ok = isinstance(value, str)
            else:
                ok = True
            if not ok:
                raise ConfigError(
                    f"the value of {key!r} has the wrong type",
                    where=where,
                    expected=f"a {type(default).__name__} like the default {default!r}",
                    received=value,
                )
            if key in _SIZE_KEYS and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_SIZE):
                raise ConfigError(f"the value of {key!r} is out of range", where=where,
                                  expected=f"0 to {_MAX_SIZE:,}", received=value,
                                  fix="Sizes drive allocation: fix the config before building a model from it.")
            if key in _ACTIVATION_KEYS and isinstance(value, str) and value not in ACTIVATIONS:
                raise ConfigError(f"the value of {key!r} is not a known activation", where=where,
                                  expected=", ".join(sorted(ACTIVATIONS)), received=value)
        sizes = {cls.attribute_map.get(k, k): v for k, v in config_dict.items()}
        vocab, width = sizes.get("vocab_size"), sizes.get("hidden_size", sizes.get("n_embd"))
        if isinstance(vocab, int) and isinstance(width, int) and vocab * width > _MAX_TABLE_VALUES:
            raise ConfigError("the embedding table would be absurdly large", where=where,
                              expected=f"vocab_size x hidden_size at most {_MAX_TABLE_VALUES:,}",
                              received=f"{vocab:,} x {width:,}")

    @classmethod
    def from_dict(cls: type[_ConfigT], config_dict: dict[str, Any], **kwargs: Any) -> _ConfigT | tuple[_ConfigT, dict[str, Any]]:
        """Build a config from a dict; ``kwargs`` override known attributes.

        With ``return_unused_kwargs=True`` returns ``(config, unused_kwargs)``.
        """
        return_unused_kwargs = kwargs.pop("return_unused_kwargs", False)
        if "torch_dtype" in kwargs:
            torch_dtype = kwargs.pop("torch_dtype")
            kwargs.setdefault("dtype", torch_dtype)
        config_dict = dict(config_dict)
        if "attn_implementation" in kwargs:
            config_dict["attn_implementation"] = kwargs.pop("attn_implementation")
        config = cls(**config_dict)
        config.pruned_heads = {int(k): v for k, v in (config.pruned_heads or {}).items()}

        if "num_labels" in kwargs and "id2label" in kwargs:
            id2label = kwargs["id2label"] or {}
            if len(id2label) != kwargs["num_labels"]:
                raise ConfigError(
                    "num_labels and id2label disagree",
                    where=f"{cls.__name__}.from_dict",
                    expected=f"{kwargs['num_labels']} labels in id2label",
                    received=id2label,
                    fix="Pass only one of them.",
                )
        unused: dict[str, Any] = {}
        for key, value in kwargs.items():
            if hasattr(config, key):
                setattr(config, key, value)
            else:
                unused[key] = value
        if "dtype" in kwargs:
            unused["dtype"] = kwargs["dtype"]  # as in transformers: the model loader reads it too
        return (config, unused) if return_unused_kwargs else config

    @classmethod
    def _dict_from_json_file(cls, json_file: str | os.PathLike[str]) -> dict[str, Any]:
        where = os.fspath(json_file)
        config_dict = read_json_file(json_file, max_bytes=MAX_CONFIG_BYTES, error=ConfigError)
        for key in [k for k in config_dict if k.startswith("_") and k not in _ALLOWED_PRIVATE_KEYS]:
            logger.warning("%s: ignoring the private key %r (private keys are never read from files).", where, key)
            del config_dict[key]
        cls._check_value_types(config_dict, where)
        for key in ("dtype", "torch_dtype"):
            _normalise_dtype(config_dict.get(key), where)  # refused here, naming the file, not later
        return config_dict

    @classmethod
    def from_json_file(cls: type[_ConfigT], json_file: str | os.PathLike[str]) -> _ConfigT:
        """Build a config from a JSON file, with no overrides."""
        return cls(**cls._dict_from_json_file(json_file))

    @classmethod
    def _locate_and_read(
        cls, pretrained_model_name_or_path: str | os.PathLike[str], **kwargs: Any
    ) -> tuple[Path, dict[str, Any], dict[str, Any]]:
        """Find ``config.json`` and read it: ``(config_file, config_dict, remaining_kwargs)``."""
        subfolder = kwargs.pop("subfolder", "") or ""
        hub_args = {k: kwargs.pop(k, None) for k in ("cache_dir", "force_download", "local_files_only", "token", "revision")}
        for unused in ("proxies", "use_auth_token", "_from_auto", "_from_pipeline"):
            kwargs.pop(unused, None)
        path = Path(os.fspath(pretrained_model_name_or_path))
        if not is_local(pretrained_model_name_or_path):
            from .hub import download_file

            config_file = Path(download_file(
                os.fspath(pretrained_model_name_or_path), CONFIG_NAME, subfolder=subfolder,
                revision=hub_args["revision"], cache_dir=hub_args["cache_dir"], force_download=bool(hub_args["force_download"]),
                local_files_only=bool(hub_args["local_files_only"]), token=hub_args["token"],
            ))
        else:
            check_not_weights_file(path, "loading a config")
            config_file = path if path.is_file() else path / subfolder / CONFIG_NAME
        if not config_file.is_file():
            raise CheckpointNotFoundError(
                f"no {CONFIG_NAME} found",
                where=os.fspath(config_file),
                expected=f"a folder holding {CONFIG_NAME}, the path of a JSON config file, or a Hub repo id",
                received=os.fspath(pretrained_model_name_or_path),
                fix="Check the path (and subfolder).",
            )
        config_dict = cls._dict_from_json_file(config_file)
        config_dict.setdefault("_name_or_path", os.fspath(pretrained_model_name_or_path))
        return config_file, config_dict, kwargs

    @classmethod
    def get_config_dict(
        cls, pretrained_model_name_or_path: str | os.PathLike[str], **kwargs: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Locate and read ``config.json``; return ``(config_dict, remaining_kwargs)``.

        Accepts a folder (with ``subfolder``), the path of a JSON file, or a Hub
        repo id (with ``revision``, ``cache_dir``, ``force_download``,
        ``local_files_only`` and ``token``, as huggingface_hub takes them).
        """
        _, config_dict, remaining = cls._locate_and_read(pretrained_model_name_or_path, **kwargs)
        return config_dict, remaining

    @classmethod
    def from_pretrained(
        cls: type[_ConfigT],
        pretrained_model_name_or_path: str | os.PathLike[str],
        cache_dir: str | os.PathLike[str] | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        revision: str = "main",
        **kwargs: Any,
    ) -> Any:
        """Load a config from a folder or JSON file.

        Args:
            pretrained_model_name_or_path: a folder with ``config.json``, a JSON file or a Hub repo id.
            **kwargs: values that override the file's attributes; also ``subfolder`` (a folder inside
                it that holds ``config.json``) and ``return_unused_kwargs`` (also return the keyword
                arguments that are not attributes).

        Example:
            >>> config = BertConfig.from_pretrained("path/to/model", num_labels=3)  # doctest: +SKIP
        """
        config_dict, kwargs = cls.get_config_dict(
            pretrained_model_name_or_path,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
            revision=revision,
            **kwargs,
        )
        file_type = config_dict.get("model_type")
        if cls.model_type and file_type and file_type != cls.model_type:
            logger.warning(
                "%s: the file's model_type %r is not %r; values are read as %s.",
                pretrained_model_name_or_path, file_type, cls.model_type, cls.__name__,
            )
        return cls.from_dict(config_dict, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike[str], push_to_hub: bool = False, **kwargs: Any) -> Any:
        """Write ``config.json`` (diff form) into ``save_directory``, creating it if needed.

        With ``push_to_hub=True`` the folder is then uploaded in one commit to
        ``repo_id`` (default: the folder's name); returns the ``CommitInfo``.
        """
        directory = Path(save_directory)
        if directory.is_file():
            raise ConfigError(
                "expected a folder to save into, found a file",
                where=os.fspath(directory),
                fix="Pass the folder that should hold config.json.",
            )
        directory.mkdir(parents=True, exist_ok=True)
        self.to_json_file(directory / CONFIG_NAME, use_diff=True)
        logger.info("Configuration saved in %s", directory / CONFIG_NAME)
        if push_to_hub:
            from .hub import upload_folder

            repo_id = kwargs.pop("repo_id", directory.name)
            return upload_folder(directory, repo_id, commit_message=kwargs.pop("commit_message", None) or "Upload config",
                                 **{k: v for k, v in kwargs.items()
                                    if k in ("private", "token", "create_pr", "revision", "commit_description", "tags")})
        return None

    @classmethod
    def register_for_auto_class(cls, auto_class: str | type = "AutoConfig") -> None:
        """Record the auto class this custom config should be registered with."""
        name = auto_class if isinstance(auto_class, str) else auto_class.__name__
        if name != "AutoConfig":
            raise ConfigError("configs register only with AutoConfig", where=cls.__name__, received=name)
        cls._auto_class = name
