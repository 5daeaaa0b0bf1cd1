"""What every format module shares: the description of one stored tensor."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TensorInfo"]


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as a file's header describes it, before any data is read."""

    name: str
    dtype: str  # canonical dtype name
    shape: tuple[int, ...]
    file: str
    nbytes: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n
