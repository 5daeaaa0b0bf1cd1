"""Conversion between frameworks: the canonical (PyTorch) form is the pivot."""

from .rules import (
    canonical_name,
    canonical_shape,
    from_canonical,
    reconcile_shape,
    strip_or_add_prefix,
    to_canonical,
)

__all__ = ["canonical_name", "canonical_shape", "to_canonical", "from_canonical", "reconcile_shape", "strip_or_add_prefix",
           "convert", "ConversionReport", "verify_conversion"]


def __getattr__(name: str):  # PEP 562: the converter (and the adapters it reaches) loads on first use
    if name in ("convert", "ConversionReport", "verify_conversion"):
        from . import converter

        return getattr(converter, name)
    raise AttributeError(f"module 'modelport.conversion' has no attribute {name!r}")
