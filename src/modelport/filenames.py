"""The file names of checkpoints: weights files per format, variants and indexes."""

from __future__ import annotations

import re

__all__ = ["WEIGHTS_NAMES", "variant_name", "index_name", "is_weights_file"]

#: the weights file of each format, in the order a folder is searched
WEIGHTS_NAMES = {
    "safetensors": "model.safetensors",
    "bin": "pytorch_model.bin",
    "h5": "tf_model.h5",
    "msgpack": "flax_model.msgpack",
}


def variant_name(file_name: str, variant: str | None) -> str:
    """``model.safetensors`` with variant ``fp16`` is ``model.fp16.safetensors``."""
    if not variant:
        return file_name
    stem, dot, ext = file_name.rpartition(".")
    return f"{stem}.{variant}.{ext}" if dot else f"{file_name}.{variant}"


def index_name(file_name: str, variant: str | None = None) -> str:
    """``model.safetensors`` gives ``model.safetensors.index.json`` (``.index.fp16.json`` with a variant)."""
    return f"{file_name}.index.{variant}.json" if variant else f"{file_name}.index.json"


_WEIGHTS_FILE = re.compile(r"^(model|pytorch_model|tf_model|flax_model)(\.[\w-]+)?(-\d{5}-of-\d{5})?\.(safetensors|bin|h5|msgpack)"
                           r"(\.index(\.[\w-]+)?\.json)?$")


def is_weights_file(file_name: str) -> bool:
    """A weights file or index of any format, variant or shard (``tf_model-00001-of-00003.h5``, ``model.fp16.safetensors``)."""
    return bool(_WEIGHTS_FILE.match(file_name))
