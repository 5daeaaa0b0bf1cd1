"""A checkpoint into a model, one tensor at a time: the loading loop every adapter shares.

The adapter describes its model as a :class:`~modelport.adapters.ParameterTree`
(its own names and shapes, plus the ties its config makes) and supplies one
callable, ``assign(tree_name, array)``, that puts an array (already in the
model's name, layout and shape) into the model. Everything else is here, once:
the pairing of checkpoint tensors with weights (the converter's own plan), the
shape check, the proof that each tensor left out is redundant, and the report.

The report means the same in every framework:

* ``missing_keys``: the model's weights (by the model's names) that no tensor
  filled; the adapter initialises them;
* ``unexpected_keys``: checkpoint tensors (by their stored names) the model has
  no place for, including tied copies and buffers whose values are not what
  the model would use;
* ``mismatched_keys``: ``(the model's name, the checkpoint tensor's shape, the
  model's shape)`` of weights left as initialised under ``ignore_mismatched_sizes``
  (not also in ``missing_keys``, as in transformers 4.x);
* ``error_msgs``: why each tied copy or buffer in ``unexpected_keys`` is there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..adapters.base import ParameterTree
from ..conversion.architectures import made_tensor
from ..conversion.plan import Step, keeps_bytes, layout_order, plan_conversion, redundancy_failures, transform
from ..distributed.slices import BlockReader
from ..dtypes import canonical_dtype
from ..errors import ConversionError
from ..formats.base import FileBytes, TensorInfo

__all__ = ["LoadingReport", "TensorSource", "ArraySource", "load_weights", "PlaceBytes", "PlaceBlocks"]

logger = logging.getLogger(__name__)


@dataclass
class LoadingReport:
    """What a load did; see the module docstring for the meaning of each list."""

    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    mismatched_keys: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    error_msgs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[Any]]:
        """transformers 4.x's ``output_loading_info`` dict."""
        return {"missing_keys": self.missing_keys, "unexpected_keys": self.unexpected_keys,
                "mismatched_keys": self.mismatched_keys, "error_msgs": self.error_msgs}


class TensorSource(Protocol):
    """What loading reads: a :class:`~modelport.checkpoint.Checkpoint`, or an :class:`ArraySource`."""

    framework: str
    path: Any

    def __iter__(self) -> Iterator[str]: ...
    def info(self, name: str) -> TensorInfo: ...
    def __getitem__(self, name: str) -> np.ndarray: ...
    def aliases(self) -> dict[str, str]: ...


class ArraySource:
    """Arrays in memory, named as ``framework`` names them (a state dict passed to ``from_pretrained``)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], framework: str = "pt", path: str = "state_dict") -> None:
        self._arrays = dict(arrays)
        self.framework = framework
        self.path = path

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def info(self, name: str) -> TensorInfo:
        array = self._arrays[name]
        return TensorInfo(name, canonical_dtype(array.dtype), tuple(array.shape), str(self.path), int(array.nbytes))

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def aliases(self) -> dict[str, str]:
        return {}


#: ``place(tree_name, file_bytes, dtype, shape) -> bool``: put a tensor's unchanged file bytes into the model
#: (a memory map), or return False to have the array read and passed to ``assign``
PlaceBytes = Callable[[str, FileBytes, str, tuple[int, ...]], bool]


#: ``place(tree_name, shape, read)``: build a weight from blocks (a sharded load): ``read(index)`` returns the block
#: ``index`` names (a slice per axis, in the model's layout), reading only its bytes
PlaceBlocks = Callable[[str, tuple[int, ...], BlockReader], None]


def load_weights(source: TensorSource, tree: ParameterTree, assign: Callable[[str, np.ndarray], None] | None, *,
                 ignore_mismatched_sizes: bool = False, ignore_missing: Iterable[str] = (),
                 ignore_unexpected: Iterable[str] = (), place_bytes: PlaceBytes | None = None,
                 place_blocks: PlaceBlocks | None = None) -> LoadingReport:
    """Fill the model that ``tree`` describes from ``source``, calling ``assign`` once per weight, in source order.

    Args:
        tree: the model's names and shapes (with ``tied`` and ``model_type`` from its config).
        assign: puts one array (in the model's layout and shape, the source's dtype) into the model (None with
            ``place_blocks``).
        ignore_mismatched_sizes: leave weights whose shapes differ as the model has them (reported)
            instead of raising.
        ignore_missing: regexes (transformers' ``_keys_to_ignore_on_load_missing``) of missing names not to report.
        ignore_unexpected: the same for unexpected names (``_keys_to_ignore_on_load_unexpected``).
        place_bytes: offered first, for each tensor whose bytes the model can use as they lie in the file (no
            transpose; a format a loader may map, see ``Checkpoint.mappable_bytes``); ``assign`` gets the rest.
        place_blocks: given, it builds every weight instead of ``assign``, from blocks it reads (each process of
            a sharded load reads only the blocks its devices hold).

    Raises:
        ConversionError: a tensor's shape does not fit its weight (without ``ignore_mismatched_sizes``).
    """
    plan = plan_conversion({name: source.info(name).shape for name in source}, source.framework, tree, tree.framework,
                           aliases=source.aliases())
    if plan.mismatched and not ignore_mismatched_sizes:
        name, have, want = plan.mismatched[0]
        raise ConversionError(
            "the checkpoint's tensor does not fit the model", where=f"{source.path} (weight {name!r})",
            expected=list(want), received=list(have),
            fix="Check that config.json belongs to these weights, or pass ignore_mismatched_sizes=True to keep the "
                "model's own weight (it is then listed in mismatched_keys).",
        )
    mappable = getattr(source, "mappable_bytes", None) if place_bytes is not None else None
    for step in plan.steps:
        if place_blocks is not None:
            place_blocks(step.tree_name, step.shape, block_reader(step, source, tree.framework))
            continue
        if mappable is not None and place_bytes is not None and not step.made:
            info = source.info(step.source)
            if keeps_bytes(step, len(info.shape), source.framework, tree.framework):
                found = mappable(step.source)
                if found is not None and place_bytes(step.tree_name, found, info.dtype, step.shape):
                    continue
        assert assign is not None, "load_weights needs assign or place_blocks"
        if step.made:  # a weight the model computes, absent from this checkpoint
            array = made_tensor(step.made, step.shape, step.dtype, step.value)
        else:
            array = transform(step, source[step.source], source.framework, tree.framework)
        assign(step.tree_name, array)
        del array  # one checkpoint tensor in memory at a time
    failures = redundancy_failures(plan, source.__getitem__, source.framework, tree.model_type)
    report = LoadingReport(
        missing_keys=_unless(plan.missing, ignore_missing),
        unexpected_keys=_unless(plan.unexpected + [name for name, _ in failures], ignore_unexpected),
        mismatched_keys=plan.mismatched,
        error_msgs=[f"{name} {why}" for name, why in failures],
    )
    _log(report, source.path)
    return report


def block_reader(step: Step, source: TensorSource, framework: str) -> BlockReader:
    """Reads blocks of the weight ``step`` fills, in ``framework``'s layout, from the bytes of its stored tensor."""
    if step.made:
        return BlockReader(step.tree_name, step.dtype, step.shape, step.shape, None, None,
                           lambda: made_tensor(step.made, step.shape, step.dtype, step.value))
    info = source.info(step.source)
    file_bytes = getattr(source, "file_bytes", None)
    found = file_bytes(step.source) if file_bytes is not None else None
    if found is None:
        logger.warning("%s: tensor %r is not stored as plain bytes; it is read whole, once, to cut its blocks",
                       source.path, step.source)
    return BlockReader(step.tree_name, info.dtype, tuple(info.shape), step.shape,
                       layout_order(step, len(info.shape), source.framework, framework), found,
                       lambda: transform(step, source[step.source], source.framework, framework))


def _unless(names: list[str], patterns: Iterable[str]) -> list[str]:
    compiled = [re.compile(p) for p in patterns]
    return [name for name in names if not any(p.search(name) for p in compiled)]


def _log(report: LoadingReport, where: Any) -> None:
    if report.missing_keys:
        logger.warning("%s: weights not in the checkpoint, newly initialised: %s", where, report.missing_keys)
    if report.unexpected_keys:
        logger.warning("%s: checkpoint tensors the model does not use: %s", where, report.unexpected_keys)
    for message in report.error_msgs:
        logger.warning("%s: %s", where, message)
    for name, have, want in report.mismatched_keys:
        logger.warning("%s: %s is %s in the checkpoint but %s in the model; the model's own weight is kept",
                       where, name, list(have), list(want))
