"""tinytensor: a deliberately tiny tensor library (bytes + dtype name + shape), the "framework" of the example adapter."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Tensor"]


@dataclass(frozen=True)
class Tensor:
    data: bytes
    dtype: str  # a name such as "float32" or "bfloat16"
    shape: tuple[int, ...]
