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
  ones are reversed. Names are scope-free already (see ``Checkpoint``).
* Flax: ``/``-joined paths become ``.``-joined; ``kernel`` becomes ``weight``
  transposed the same way, ``scale`` and ``embedding`` become ``weight``,
  ``mean``/``var`` under ``batch_stats`` become ``running_mean``/``running_var``.

What the name cannot decide (a TF ``Conv1D`` bias stored as ``[1, n]`` where
PyTorch has ``[n]``, the base-model prefix) is settled against the target's
shapes and names by :func:`reconcile`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConversionError

__all__ = ["canonical_name", "to_canonical", "reconcile_shape", "strip_or_add_prefix"]

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


def canonical_name(name: str, framework: str) -> str:
    """The PyTorch name of a tensor named by ``framework`` (``pt``, ``tf`` or ``flax``)."""
    if framework == "pt":
        return name
    if framework == "tf":
        parts = _tf_parts(name)
        parts[-1] = _TF_LAST.get(parts[-1], parts[-1])
        return ".".join(parts)
    if framework == "flax":
        parts = name.replace("/", ".").split(".")
        if parts[0] == "params":
            parts = parts[1:]
        elif parts[0] == "batch_stats":
            parts = parts[1:]
            parts[-1] = {"mean": "running_mean", "var": "running_var"}.get(parts[-1], parts[-1])
            return ".".join(parts)
        parts[-1] = _FLAX_LAST.get(parts[-1], parts[-1])
        return ".".join(parts)
    raise ConversionError("unknown framework", where=name, expected="pt, tf or flax", received=framework)


def _is_kernel(name: str, framework: str) -> bool:
    if framework == "tf":
        return _tf_parts(name)[-1] == "kernel"
    return framework == "flax" and name.replace("/", ".").split(".")[-1] == "kernel"


def to_canonical(name: str, array: np.ndarray, framework: str) -> tuple[str, np.ndarray]:
    """``(PyTorch name, array in PyTorch layout)`` for one tensor. Transposes are exact (no arithmetic)."""
    new = canonical_name(name, framework)
    if _is_kernel(name, framework):
        if array.ndim == 2:
            array = array.T
        elif array.ndim == 4:
            array = array.transpose(3, 2, 0, 1)
        elif array.ndim == 3:
            array = array.transpose(2, 1, 0)
    return new, np.ascontiguousarray(array) if array.ndim else array


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
