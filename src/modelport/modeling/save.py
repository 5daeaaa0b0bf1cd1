"""A model's weights to a checkpoint folder, and on to the Hub: the one save path of every adapter.

The adapter hands over its weights by its own names (``{name: framework
tensor}``); this module stamps the architecture into the config, writes
``config.json``, turns the weights into lazily converted tensors (canonical
PyTorch names and layouts for the default ``model.safetensors``, or the
framework's own for its native format), saves them crash-safe and sharded
(:func:`modelport.saving.save_checkpoint`) and pushes the folder in one commit.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..adapters.base import Adapter
from ..config import CONFIG_NAME
from ..conversion.rules import canonical_name, canonical_shape, to_canonical
from ..errors import ConfigError, UnsupportedKeywordError
from ..formats.base import LazyTensor, TensorLike
from ..saving import save_checkpoint
from .keywords import check_keywords

__all__ = ["lazy_weights", "save_pretrained", "push_saved_folder", "PUSH_OPTIONS"]

#: what ``save_pretrained(..., push_to_hub=True, **kwargs)`` passes on to the Hub commit
PUSH_OPTIONS = ("repo_id", "commit_message", "commit_description", "private", "create_pr", "revision", "tags")


def lazy_weights(weights: Mapping[str, Any], adapter: Adapter, *, canonical: bool = False,
                 drop_prefix: str = "") -> list[tuple[str, LazyTensor]]:
    """``(name, LazyTensor)`` for each framework tensor, converted to numpy only when the writer asks for it.

    With ``canonical``, names and layouts become PyTorch's (``drop_prefix`` removes a base model's
    attribute, which a bare PyTorch model's names do not carry).
    """
    framework = adapter.checkpoint_framework or "pt"
    out = []
    for name, tensor in weights.items():
        dtype, shape = adapter.dtype_of(tensor), tuple(int(d) for d in tensor.shape)
        if canonical:  # the identity for PyTorch-named tensors
            target = canonical_name(name, framework)
            if drop_prefix and target.startswith(drop_prefix + "."):
                target = target[len(drop_prefix) + 1:]
            lazy = LazyTensor(dtype, canonical_shape(name, shape, framework),
                              functools.partial(_canonical_array, name, tensor, adapter, framework))
        else:
            target = name
            lazy = LazyTensor(dtype, shape, functools.partial(adapter.to_numpy, tensor))
        out.append((target, lazy))
    return out


def _canonical_array(name: str, tensor: Any, adapter: Adapter, framework: str) -> Any:
    return to_canonical(name, adapter.to_numpy(tensor), framework)[1]


def save_pretrained(model: Any, framework: str, save_directory: str | os.PathLike[str],
                    tensors: Callable[[], list[tuple[str, TensorLike]]], options: dict[str, Any], *, format: str,
                    tensor_framework: str, architecture: str, tf_scope: str = "tf_model",
                    writer: Callable[[Path, list[tuple[str, TensorLike]]], None] | None = None,
                    extra_files: Callable[[Path], None] | None = None, sharded: Any = None) -> Any:
    """The shared body of every adapter's ``save_pretrained``: keywords, config, weights, push.

    Args:
        model: the model (for its ``config`` and the messages).
        framework: the adapter's checkpoint framework (its keyword rules).
        tensors: makes the ``(name, LazyTensor)`` list to write (not called when ``is_main_process`` is False).
        options: the call's keywords other than the adapter's own (``max_shard_size``, ``push_to_hub``, ...).
        format: the file format to write; ``tensor_framework``: whose names the tensors carry.
        extra_files: writes the adapter's own files into the folder (a SavedModel) after the weights, before the push.
        sharded: ``(tensors, collective)`` of a model sharded over devices and processes
            (:func:`modelport.distributed.saving.save_sharded`): every process writes its own blocks of the
            safetensors files, and only the coordinator writes the config and pushes.

    Returns:
        The Hub's commit info with ``push_to_hub``, else None.
    """
    where = f"{type(model).__name__}.save_pretrained"
    options = check_keywords("save_pretrained", framework, options, where)
    main = options.pop("is_main_process", True)
    if sharded is not None:
        if format != "safetensors":
            raise ConfigError("a model spread over devices or processes is saved as safetensors only", where=where,
                              received=f"format {format!r} (safe_serialization=False)",
                              fix="Save with safe_serialization=True (the default): every process writes its own blocks.")
        main = sharded[1].is_coordinator  # every process writes its blocks; one writes the rest
    elif not main:
        return None
    push, token = options.pop("push_to_hub", False), options.pop("token", None)
    max_shard_size, variant = options.pop("max_shard_size", "5GB"), options.pop("variant", None)
    save_config = options.pop("save_config", True)
    push_options = {name: options.pop(name) for name in PUSH_OPTIONS if name in options}
    if options:
        raise UnsupportedKeywordError("unknown keyword argument", where=where, received=", ".join(sorted(options)),
                                      expected="a keyword of the transformers 4.x contract (docs/keywords.md)",
                                      fix="Check the spelling.")
    folder = Path(os.fspath(save_directory))
    if folder.is_file():
        raise ConfigError("save_pretrained needs a folder, not a file", where=str(folder),
                          fix="Pass the folder to save into; it is created if needed.")
    committed: dict[str, str] = {}  # written with the weights, through the save's journal: a killed save changes none
    if save_config and main:
        model.config.architectures = [architecture]
        committed[CONFIG_NAME] = model.config.to_json_string(use_diff=True)
        generation = getattr(model, "generation_config", None)
        if generation is not None and model.can_generate():  # transformers writes it beside config.json
            from ..generation.config import GENERATION_CONFIG_NAME

            generation.validate(strict=True)
            committed[GENERATION_CONFIG_NAME] = generation.to_json_string(use_diff=True)
    if sharded is not None:
        from ..distributed.saving import save_sharded

        save_sharded(folder, sharded[0], sharded[1], max_shard_size=max_shard_size, variant=variant, metadata={"format": "pt"},
                     extra_files=committed)
        if not main:
            return None
    else:
        save_checkpoint(folder, tensors(), format=format, framework=tensor_framework, max_shard_size=max_shard_size,
                        variant=variant, tf_scope=tf_scope, writer=writer, extra_files=committed)
    if extra_files is not None:
        extra_files(folder)
    return push_saved_folder(folder, push_options, token=token) if push else None


def push_saved_folder(folder: str | os.PathLike[str], options: dict[str, Any], *, token: Any = None) -> Any:
    """Upload a saved folder in one commit (``save_pretrained(..., push_to_hub=True)``); ``options`` are
    :data:`PUSH_OPTIONS`; ``repo_id`` defaults to the folder's name, as in transformers."""
    from ..hub import upload_folder

    options = {k: v for k, v in options.items() if v is not None}
    repo_id = options.pop("repo_id", None) or Path(os.fspath(folder)).name
    message = options.pop("commit_message", None) or "Upload model"
    return upload_folder(folder, repo_id, commit_message=message, token=token, **options)
