"""Conversion between frameworks: the canonical (PyTorch) form is the pivot."""

from .rules import canonical_name, reconcile_shape, strip_or_add_prefix, to_canonical

__all__ = ["canonical_name", "to_canonical", "reconcile_shape", "strip_or_add_prefix"]
