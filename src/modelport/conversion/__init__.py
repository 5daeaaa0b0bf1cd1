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


#: loaded on first use: name -> module
_LAZY = {"convert": ".converter", "ConversionReport": ".report", "verify_conversion": ".verify"}


def __getattr__(name: str):  # PEP 562: the converter (and the adapters it reaches) loads on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'modelport.conversion' has no attribute {name!r}")
