"""Checkpoint file formats, one module each, with the same small surface."""

from .base import TensorInfo

__all__ = ["TensorInfo"]
