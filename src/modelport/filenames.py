"""The file names of checkpoints: weights files per format, variants and indexes."""

from __future__ import annotations

__all__ = ["WEIGHTS_NAMES", "variant_name", "index_name"]

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
