"""Blocks of one checkpoint tensor, read in the target model's layout without reading the rest of the tensor.

A sharded load asks for blocks of each weight as the target framework lays it
out (a Flax kernel is a PyTorch weight transposed; a TF bias may carry a size-1
axis). :class:`BlockReader` turns such a block into the block of the stored
tensor, reads only its bytes (:func:`~modelport.formats.base.read_runs`), and
puts them in the target's order and dtype. A block asked for twice (devices that
hold the same replica) is read once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..conversion.rules import canonical_name, canonical_shape, carry_long_axes, layout_permutation
from ..dtypes import DTYPES
from ..errors import ConversionError
from ..formats._buffers import aligned_copy
from ..formats.base import FileBytes, read_runs

__all__ = ["Box", "BlockReader", "box_of", "canonical_block"]

#: a block: ``(start, stop)`` along each axis
Box = tuple[tuple[int, int], ...]


def box_of(index: Sequence[slice | int] | None, shape: tuple[int, ...], *, where: str) -> Box:
    """The block a framework's index names (slices as ``jax.make_array_from_callback`` passes them; ``None`` or
    missing trailing entries mean whole axes)."""
    index = tuple(index or ())
    if len(index) > len(shape):
        raise ConversionError("a block index has more axes than its tensor", where=where, expected=len(shape), received=len(index))
    box = []
    for axis, size in enumerate(shape):
        part = index[axis] if axis < len(index) else slice(None)
        if isinstance(part, int):
            part = slice(part, part + 1)
        start, stop, step = part.indices(size)
        if step != 1:
            raise ConversionError("a block must be contiguous along each axis", where=where, received=str(part))
        box.append((start, max(start, stop)))
    return tuple(box)


@dataclass
class BlockReader:
    """Reads blocks of one weight in the target's layout (``target_shape``) from a tensor stored as ``stored_shape``.

    ``order``: the transpose from the stored layout to the target's (None: none); ``source``: where the stored
    tensor's bytes lie (None: the format keeps no plain bytes, and ``whole`` reads the tensor once, whole).
    Blocks keep the stored dtype; the adapter casts as it places them.
    """

    name: str
    dtype: str
    stored_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    order: tuple[int, ...] | None
    source: FileBytes | None
    whole: Callable[[], np.ndarray]
    _blocks: dict[Box, np.ndarray] = field(default_factory=dict, repr=False)
    _whole: np.ndarray | None = field(default=None, repr=False)

    def __call__(self, index: Sequence[slice | int] | None = None) -> np.ndarray:
        box = box_of(index, self.target_shape, where=self.name)
        if box not in self._blocks:
            self._blocks[box] = self._read(box)
        return self._blocks[box]

    def read_into(self, index: Sequence[slice | int] | None, out: np.ndarray) -> None:
        """Fill ``out`` (the block's shape; the target's memory) with the block: straight from the file when the
        stored bytes need no transpose, ``out`` has their dtype and is C-contiguous; else through :meth:`__call__`
        (``out`` casts)."""
        box = box_of(index, self.target_shape, where=self.name)
        direct = (not self.order and out.flags.c_contiguous and out.dtype == DTYPES[self.dtype].numpy
                  and tuple(out.shape) == tuple(b - a for a, b in box))
        if direct and self.source is not None:
            read_runs(self.source, self.dtype, self.stored_shape, self._stored_box(box), where=self.name,
                      out=out.reshape(tuple(b - a for a, b in self._stored_box(box))))
        else:
            out[...] = self(index)

    def _read(self, box: Box) -> np.ndarray:
        sizes = tuple(stop - start for start, stop in box)
        if self.source is None:
            if self._whole is None:
                self._whole = self.whole()
            block = aligned_copy(self._whole[tuple(slice(a, b) for a, b in box)])
        else:
            stored = read_runs(self.source, self.dtype, self.stored_shape, self._stored_box(box), where=self.name)
            block = (aligned_copy(stored.transpose(self.order)) if self.order else stored).reshape(sizes)
        return block

    def _stored_box(self, box: Box) -> Box:
        """The target's block as a block of the stored tensor: through the transpose, size-1 axes matched up."""
        order = self.order or tuple(range(len(self.stored_shape)))
        transposed = tuple(self.stored_shape[axis] for axis in order)
        in_transposed = carry_long_axes(box, self.target_shape, transposed, (0, 1))
        stored: list[tuple[int, int]] = [(0, 0)] * len(order)
        for position, axis in enumerate(order):
            stored[axis] = in_transposed[position]
        return tuple(stored)


def canonical_block(name: str, framework: str, shape: tuple[int, ...], box: Box, block: np.ndarray) -> tuple[Box, np.ndarray]:
    """A block of ``framework``'s weight ``name`` (of ``shape``) as the block of its canonical (PyTorch layout) tensor:
    the transpose a save applies to whole tensors, applied to one block and its place."""
    target = canonical_name(name, framework)
    order = layout_permutation(name, framework, target, "pt", len(shape))
    if order is not None:
        box, block = tuple(box[axis] for axis in order), aligned_copy(block.transpose(order))
        shape = tuple(shape[axis] for axis in order)
    pt_shape = canonical_shape(name, shape, framework)
    if len(pt_shape) != len(box):  # size-1 axes differ (TF's [1, n] biases)
        box = carry_long_axes(box, shape, pt_shape, (0, 1))
        block = block.reshape(tuple(b - a for a, b in box))
    return box, block
