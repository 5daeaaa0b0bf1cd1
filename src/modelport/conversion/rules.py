"""Names and layouts from TF and Flax to the canonical (PyTorch) form, decided by names.

TF and Flax names carry the layer kind (``kernel``, ``embeddings``/``embedding``,
``gamma``/``scale``, ``moving_mean``/``batch_stats``), so the way to PyTorch
names and layouts needs nothing but the name:

* TF: drop ``:0``; ``x___y`` becomes ``y`` (``mlm___cls`` is ``cls``);
  ``_._`` separates list items (``layer_._0`` is ``layer.0``); a last
  component ``kernel``, ``embeddings`` or ``gamma`` becomes ``weight``,
  ``beta`` becomes ``bias``, ``moving_mean``/``moving_variance`` become
  ``running_mean``/``running_var``; rank-2 kernels are transposed, rank-4
  convolution kernels go from (h, w, in, out) to (out, in, h, w) and rank-3
  ones are reversed; a rank-2 ``bias`` with a leading axis of 1 (GPT-2's TF
  ``Conv1D`` stores ``[1, n]``) loses that axis. Names are scope-free already
  (see ``Checkpoint``).
* Flax: ``/``-joined paths become ``.``-joined; ``kernel`` becomes ``weight``
  transposed the same way, ``scale`` and ``embedding`` become ``weight``,
  ``mean``/``var`` under ``batch_stats`` become ``running_mean``/``running_var``.

What the name cannot decide (the base-model prefix, the way back from the
canonical form) is settled against the target's shapes and names by
:func:`reconcile_shape` and :func:`strip_or_add_prefix`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConversionError
from ..formats._buffers import aligned_copy

__all__ = ["canonical_name", "canonical_shape", "to_canonical", "from_canonical", "layout_permutation", "reconcile_shape",
           "strip_or_add_prefix"]

_TF_LAST = {"kernel": "weight", "embeddings": "weight", "gamma": "weight", "beta": "bias",
            "moving_mean": "running_mean", "moving_variance": "running_var"}
_FLAX_LAST = {"kernel": "weight", "scale": "weight", "embedding": "weight"}


def _tf_parts(name: str) -> list[str]:
    name = name[:-2] if name.endswith(":0") else name
    parts: list[str] = []
    for part in name.split("/"):
        if "___" in part:
            part = part.split("___")[-1]
        parts.extend(part.split("_._"))
    return parts


def _tf_canonical(name: str) -> str:
    parts = _tf_parts(name)
    parts[-1] = _TF_LAST.get(parts[-1], parts[-1])
    return ".".join(parts)


def _flax_canonical(name: str) -> str:
    parts = name.replace("/", ".").split(".")
    if parts[0] == "params":
        parts = parts[1:]
    elif parts[0] == "batch_stats":
        parts = parts[1:]
        parts[-1] = {"mean": "running_mean", "var": "running_var"}.get(parts[-1], parts[-1])
        return ".".join(parts)
    parts[-1] = _FLAX_LAST.get(parts[-1], parts[-1])
    return ".".join(parts)


@dataclass(frozen=True)
class _Naming:
    """How one framework's names and layouts relate to PyTorch's."""

    canonical: Callable[[str], str]
    is_kernel: Callable[[str], bool]  # a kernel: transposed against PyTorch's weight
    stores_row_biases: bool = False  # biases stored ``[1, n]`` (TF GPT-2's Conv1D)
    last_part: Callable[[str], str] = lambda name: name.rsplit(".", 1)[-1]


_NAMINGS = {
    "pt": _Naming(lambda name: name, lambda name: False),
    "tf": _Naming(_tf_canonical, lambda name: _tf_parts(name)[-1] == "kernel", stores_row_biases=True,
                  last_part=lambda name: _tf_parts(name)[-1]),
    "flax": _Naming(_flax_canonical, lambda name: name.replace("/", ".").split(".")[-1] == "kernel"),
}


def _naming(framework: str) -> _Naming:
    """A checkpoint framework's naming rules; frameworks adapters declare name their tensors like a built-in one."""
    if framework in _NAMINGS:
        return _NAMINGS[framework]
    from ..frameworks import get

    try:
        return _NAMINGS[get(framework).names_like]
    except (ConversionError, KeyError):
        raise ConversionError("unknown framework", where="modelport.conversion.rules", expected=", ".join(_NAMINGS),
                              received=framework) from None


def canonical_name(name: str, framework: str) -> str:
    """The PyTorch name of a tensor named by ``framework`` (``pt``, ``tf``, ``flax`` or a declared one)."""
    return _naming(framework).canonical(name)


def _is_kernel(name: str, framework: str) -> bool:
    return _naming(framework).is_kernel(name)


_KERNEL_ORDER = {2: (1, 0), 3: (2, 1, 0), 4: (3, 2, 0, 1)}  # TF/Flax kernel axes -> PyTorch axes
_KERNEL_BACK = {2: (1, 0), 3: (2, 1, 0), 4: (2, 3, 1, 0)}  # and back


def _is_leading_one_bias(name: str, shape: tuple[int, ...], framework: str) -> bool:
    naming = _naming(framework)
    return naming.stores_row_biases and len(shape) == 2 and shape[0] == 1 and naming.last_part(name) == "bias"


def canonical_shape(name: str, shape: tuple[int, ...], framework: str) -> tuple[int, ...]:
    """The shape :func:`to_canonical` gives a tensor of ``shape``, known from the header alone."""
    shape = tuple(shape)
    if _is_kernel(name, framework) and len(shape) in _KERNEL_ORDER:
        return tuple(shape[i] for i in _KERNEL_ORDER[len(shape)])
    if _is_leading_one_bias(name, shape, framework):
        return shape[1:]
    return shape


def to_canonical(name: str, array: np.ndarray, framework: str) -> tuple[str, np.ndarray]:
    """``(PyTorch name, array in PyTorch layout)`` for one tensor. Transposes are exact (no arithmetic)."""
    new = canonical_name(name, framework)
    if _is_kernel(name, framework) and array.ndim in _KERNEL_ORDER:
        return new, aligned_copy(array.transpose(_KERNEL_ORDER[array.ndim]))
    if _is_leading_one_bias(name, tuple(array.shape), framework):
        array = array[0]
    return new, np.ascontiguousarray(array) if array.ndim else array


def layout_permutation(source: str, source_framework: str, target: str, target_framework: str,
                       ndim: int) -> tuple[int, ...] | None:
    """The axes order taking a source tensor to its target's layout in one transpose (what
    :func:`to_canonical` then :func:`from_canonical` do), or None when the bytes keep their order:
    same framework, no kernel, or two kernel transposes that cancel (a TF Dense kernel becoming a Flax one)."""
    order = tuple(range(ndim))
    if source_framework == target_framework:
        return None
    if _is_kernel(source, source_framework) and ndim in _KERNEL_ORDER:
        order = tuple(order[i] for i in _KERNEL_ORDER[ndim])
    if _is_kernel(target, target_framework) and ndim in _KERNEL_BACK:
        order = tuple(order[i] for i in _KERNEL_BACK[ndim])
    return None if order == tuple(range(ndim)) else order


def from_canonical(target: str, array: np.ndarray, framework: str, target_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A canonical (PyTorch layout) array in the layout of ``framework``'s tensor named ``target``.

    The layer kind comes from the target's own name (``kernel``), so this is the
    exact inverse of :func:`to_canonical`; with ``target_shape`` size-1 axes are
    fitted too (:func:`reconcile_shape`).
    """
    if _is_kernel(target, framework) and array.ndim in _KERNEL_BACK:
        array = aligned_copy(array.transpose(_KERNEL_BACK[array.ndim]))
    return array if target_shape is None else reconcile_shape(target, array, target_shape)


def reconcile_shape(name: str, array: np.ndarray, target_shape: tuple[int, ...]) -> np.ndarray:
    """Fit ``array`` to ``target_shape`` when only size-1 axes differ (TF ``[1, n]`` biases)."""
    if tuple(array.shape) == tuple(target_shape):
        return array
    if array.size == int(np.prod(target_shape, dtype=np.int64)) and [d for d in array.shape if d != 1] == [
        d for d in target_shape if d != 1
    ]:
        return array.reshape(target_shape)
    raise ConversionError(
        "the tensor's shape does not fit the target", where=name, expected=list(target_shape), received=list(array.shape)
    )


def carry_long_axes(items: tuple[Any, ...], shape: tuple[int, ...], target_shape: tuple[int, ...], unit: Any) -> tuple[Any, ...]:
    """One item per axis of ``target_shape`` from ``items``, one per axis of ``shape``, where the two shapes differ only
    in size-1 axes (TF's ``[1, n]`` biases): the long axes keep their items in order; the target's size-1 axes get
    ``unit``. What :func:`reconcile_shape` does to an array, done to its per-axis blocks or partition specs."""
    long_items = iter(item for item, size in zip(items, shape) if size != 1)
    return tuple(unit if size == 1 else next(long_items) for size in target_shape)


def strip_or_add_prefix(names: list[str], target_names: set[str], prefix: str) -> dict[str, str]:
    """Map source names onto the target's by adding or removing the base-model ``prefix``.

    A base model's checkpoint (``embeddings...``) loads into a head model
    (``bert.embeddings...``) and back; names that already match stay as they are.
    """
    mapping: dict[str, str] = {}
    dotted = prefix + "."
    for name in names:
        if name in target_names or not prefix:
            mapping[name] = name
        elif name.startswith(dotted) and name[len(dotted):] in target_names:
            mapping[name] = name[len(dotted):]
        elif dotted + name in target_names:
            mapping[name] = dotted + name
        else:
            mapping[name] = name
    return mapping
