"""Auto classes: the model class from config.json's ``model_type``."""

from __future__ import annotations

import os
from typing import Any

from modelport import AutoConfig, PretrainedConfig
from modelport.errors import ConfigError

from .models import BertForMaskedLM, BertModel, GPT2LMHeadModel, GPT2Model

__all__ = ["AutoModel", "AutoModelForMaskedLM", "AutoModelForCausalLM"]


class _AutoModel:
    _mapping: dict[str, type]

    def __init__(self) -> None:
        raise TypeError(f"{type(self).__name__} is a factory: use from_pretrained(...) or from_config(...).")

    @classmethod
    def _class_for(cls, config: PretrainedConfig) -> type:
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
            hub = {k: kwargs[k] for k in ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder") if k in kwargs}
            config = AutoConfig.from_pretrained(config or pretrained_model_name_or_path, **hub)
        return cls._class_for(config).from_pretrained(pretrained_model_name_or_path, *model_args, config=config, **kwargs)

    @classmethod
    def register(cls, config_class: type[PretrainedConfig], model_class: type, exist_ok: bool = False) -> None:
        if config_class.model_type in cls._mapping and not exist_ok and cls._mapping[config_class.model_type] is not model_class:
            raise ConfigError(f"{config_class.model_type!r} is already registered", where=f"{cls.__name__}.register",
                              fix="Pass exist_ok=True to replace it.")
        cls._mapping[config_class.model_type] = model_class


class AutoModel(_AutoModel):
    _mapping = {"bert": BertModel, "gpt2": GPT2Model}


class AutoModelForMaskedLM(_AutoModel):
    _mapping = {"bert": BertForMaskedLM}


class AutoModelForCausalLM(_AutoModel):
    _mapping = {"gpt2": GPT2LMHeadModel}
