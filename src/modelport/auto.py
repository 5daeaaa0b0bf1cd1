"""``AutoConfig``: pick the config class from ``model_type``."""

from __future__ import annotations

import os
from typing import Any

from .config import PretrainedConfig
from .errors import AdapterError, ConfigError
from .models import (
    AlbertConfig,
    BertConfig,
    CamembertConfig,
    DistilBertConfig,
    ElectraConfig,
    GemmaConfig,
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
    RobertaConfig,
    T5Config,
    ViTConfig,
    XLMRobertaConfig,
)

__all__ = ["AutoConfig", "AutoModelFactory", "CONFIG_MAPPING", "model_class_for", "resolve_config"]

_HUB_OPTIONS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")


def gguf_file_path(name_or_path: str | os.PathLike[str], gguf_file: str, subfolder: str = "", **hub: Any) -> str:
    """Where ``gguf_file`` is: in the local folder, or downloaded from the Hub repo (cached)."""
    from .hub import download_file, is_local

    if is_local(name_or_path):
        return os.path.join(os.fspath(name_or_path), subfolder, gguf_file)
    return download_file(os.fspath(name_or_path), gguf_file, subfolder=subfolder, **{k: v for k, v in hub.items() if v is not None})


def gguf_config_values(name_or_path: str | os.PathLike[str], gguf_file: str, **hub: Any) -> dict[str, Any]:
    """The config values (``model_type`` included) that a GGUF file's metadata gives."""
    from .checkpoint import Checkpoint

    return Checkpoint.open(gguf_file_path(name_or_path, gguf_file, **hub), format="gguf").gguf_config


#: model_type -> config class; extended with :meth:`AutoConfig.register`
CONFIG_MAPPING: dict[str, type[PretrainedConfig]] = {
    "bert": BertConfig,
    "roberta": RobertaConfig,
    "xlm-roberta": XLMRobertaConfig,
    "camembert": CamembertConfig,
    "distilbert": DistilBertConfig,
    "albert": AlbertConfig,
    "electra": ElectraConfig,
    "vit": ViTConfig,
    "t5": T5Config,
    "gpt2": GPT2Config,
    "llama": LlamaConfig,
    "mistral": MistralConfig,
    "qwen2": Qwen2Config,
    "gemma": GemmaConfig,
}


class AutoConfig:
    """Factory that builds the right config class from ``config.json``'s ``model_type``.

    Example:
        >>> AutoConfig.for_model("gpt2", n_layer=2).num_hidden_layers
        2
    """

    def __init__(self) -> None:
        raise TypeError("AutoConfig is a factory: use AutoConfig.from_pretrained(...) or AutoConfig.for_model(...).")

    @staticmethod
    def _class_for(model_type: Any, where: str) -> type[PretrainedConfig]:
        if isinstance(model_type, str) and model_type in CONFIG_MAPPING:
            return CONFIG_MAPPING[model_type]
        raise ConfigError(
            "unrecognised model_type" if model_type else "the configuration has no model_type",
            where=where,
            expected="one of " + ", ".join(sorted(CONFIG_MAPPING)),
            received=model_type,
            fix="Register the config class with AutoConfig.register(model_type, ConfigClass).",
        )

    @classmethod
    def for_model(cls, model_type: str, *args: Any, **kwargs: Any) -> PretrainedConfig:
        """A config of the class registered for ``model_type``, built from the arguments."""
        return cls._class_for(model_type, "AutoConfig.for_model")(*args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike[str], **kwargs: Any) -> Any:
        """Load ``config.json`` and build the class its ``model_type`` names.

        Takes the same arguments as :meth:`PretrainedConfig.from_pretrained`; with ``gguf_file=`` the config
        comes from that GGUF file's metadata instead (keyword arguments override it).
        """
        gguf_file = kwargs.pop("gguf_file", None)
        if gguf_file is not None:
            hub = {k: kwargs.pop(k) for k in _HUB_OPTIONS if k in kwargs}
            return cls.for_model(**{**gguf_config_values(pretrained_model_name_or_path, gguf_file, **hub), **kwargs})
        config_file, config_dict, remaining = PretrainedConfig._locate_and_read(pretrained_model_name_or_path, **kwargs)
        config_class = cls._class_for(config_dict.get("model_type"), os.fspath(config_file))
        config_class._check_value_types(config_dict, os.fspath(config_file))
        return config_class.from_dict(config_dict, **remaining)

    @staticmethod
    def knows(pretrained_model_name_or_path: str | os.PathLike[str], **kwargs: Any) -> bool:
        """True when ``config.json``'s ``model_type`` has a registered config class."""
        _, config_dict, _ = PretrainedConfig._locate_and_read(pretrained_model_name_or_path, **kwargs)
        return isinstance(config_dict.get("model_type"), str) and config_dict["model_type"] in CONFIG_MAPPING

    @staticmethod
    def register(model_type: str, config: type[PretrainedConfig], exist_ok: bool = False) -> None:
        """Map ``model_type`` to a config class (whose own ``model_type`` must agree)."""
        if not (isinstance(config, type) and issubclass(config, PretrainedConfig)):
            raise ConfigError("only PretrainedConfig subclasses can be registered", where="AutoConfig.register", received=config)
        if config.model_type and config.model_type != model_type:
            raise ConfigError(
                "the config class's model_type does not match the key it is registered under",
                where=f"AutoConfig.register({model_type!r})",
                expected=model_type,
                received=config.model_type,
            )
        if model_type in CONFIG_MAPPING and not exist_ok and CONFIG_MAPPING[model_type] is not config:
            raise ConfigError(
                f"model_type {model_type!r} is already registered to {CONFIG_MAPPING[model_type].__name__}",
                where="AutoConfig.register",
                fix="Pass exist_ok=True to replace it.",
            )
        CONFIG_MAPPING[model_type] = config


class AutoModelFactory:
    """Base of every adapter's auto model classes: the class from ``config.json``'s ``model_type``.

    Adapters subclass it with a ``_mapping`` of model_type to model class; the
    logic (and its errors) lives here once.
    """

    _mapping: dict[str, type]

    def __init__(self) -> None:
        raise TypeError(f"{type(self).__name__} is a factory: use from_pretrained(...) or from_config(...).")

    @classmethod
    def _class_for(cls, config: PretrainedConfig) -> Any:
        try:
            return cls._mapping[config.model_type]
        except KeyError:
            raise ConfigError(
                f"{cls.__name__} has no model for this model_type", where=cls.__name__,
                expected="one of " + ", ".join(sorted(cls._mapping)), received=config.model_type,
                fix=f"Register one with {cls.__name__}.register(ConfigClass, ModelClass).",
            ) from None

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any) -> Any:
        return cls._class_for(config)(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike[str], *model_args: Any, **kwargs: Any) -> Any:
        config = kwargs.pop("config", None)
        if not isinstance(config, PretrainedConfig):
            hub = {k: kwargs[k] for k in _HUB_OPTIONS if k in kwargs}
            if kwargs.get("gguf_file") is not None and config is None:
                hub["gguf_file"] = kwargs["gguf_file"]
            config = AutoConfig.from_pretrained(config or pretrained_model_name_or_path, **hub)
            kwargs = _set_config_attributes(config, kwargs)
        return cls._class_for(config).from_pretrained(pretrained_model_name_or_path, *model_args, config=config, **kwargs)

    @classmethod
    def register(cls, config_class: type[PretrainedConfig], model_class: type, exist_ok: bool = False) -> None:
        if config_class.model_type in cls._mapping and not exist_ok and cls._mapping[config_class.model_type] is not model_class:
            raise ConfigError(
                f"{config_class.model_type!r} is already registered",
                where=f"{cls.__name__}.register",
                fix="Pass exist_ok=True to replace it.",
            )
        cls._mapping[config_class.model_type] = model_class


def _set_config_attributes(config: PretrainedConfig, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keywords that are attributes of the config the auto class loaded (``num_labels=5``) set them, as transformers'
    auto classes do; ``from_pretrained``'s own keywords (``dtype``, ``revision``...) are left for the model class."""
    from .modeling.keywords import KEYWORDS

    own = {row.name for row in KEYWORDS if row.method == "from_pretrained"}
    rest = {}
    for key, value in kwargs.items():
        if key not in own and hasattr(config, key):
            setattr(config, key, value)
        else:
            rest[key] = value
    return rest


def resolve_config(
    config_class: type[PretrainedConfig], config: Any, name_or_path: str | os.PathLike[str], kwargs: dict[str, Any], **options: Any
) -> tuple[PretrainedConfig, dict[str, Any]]:
    """A model's config and the keyword arguments left for the model, as every ``from_pretrained`` needs them.

    ``config`` is used as is when it is a config; otherwise the config is loaded
    from it (a path or repo id) or from ``name_or_path``, by ``config_class``
    (``AutoConfig`` for the generic base class), with ``kwargs`` overriding its
    attributes; ``options`` are the Hub and ``subfolder`` arguments.
    """
    if isinstance(config, PretrainedConfig):
        return config, kwargs
    loader: Any = config_class if config_class is not PretrainedConfig else AutoConfig
    return loader.from_pretrained(config if config is not None else name_or_path, return_unused_kwargs=True, **options, **kwargs)


def model_class_for(config: PretrainedConfig, architectures: dict[str, type], base_models: dict[str, type], framework: str) -> type:
    """The class of ``framework``'s adapter for ``config.architectures[0]``.

    Architectures are named as in PyTorch (``BertForMaskedLM``); a ``TF`` or
    ``Flax`` prefix is ignored. With no architecture recorded, the base model of
    ``model_type`` is used. Anything else is an error that names the architecture.
    """
    names = list(getattr(config, "architectures", None) or [])
    if not names:
        if config.model_type in base_models:
            return base_models[config.model_type]
        received = f"model_type {config.model_type!r} with no architectures"
    else:
        name = names[0]
        for prefix in ("TF", "Flax"):
            if name.startswith(prefix) and name[len(prefix) :] in architectures:
                name = name[len(prefix) :]
        if name in architectures:
            return architectures[name]
        received = name
    raise AdapterError(
        f"the {framework} adapter does not know this architecture",
        where="config.json (architectures)",
        expected="one of " + ", ".join(sorted(architectures)),
        received=received,
        fix="Use an adapter that provides it, or register the model class with the adapter's auto classes.",
    )
