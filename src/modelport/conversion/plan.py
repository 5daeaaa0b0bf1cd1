"""Which source tensor becomes which target tensor, decided from headers and the target's parameter tree alone.

Every source name goes to the canonical (PyTorch) form by rule; the target's
tree (names and shapes its framework uses, built without weight memory by the
target adapter) says where each canonical weight lands and in which layout.
Nothing is read here: the plan is checked against shapes first, so a wrong
pairing is reported before a byte is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..adapters.base import ParameterTree
from ..errors import ConversionError
from ..formats.base import aligned_copy
from .rules import canonical_name, canonical_shape, is_derived, layout_permutation, reconcile_shape, strip_or_add_prefix

__all__ = ["Step", "Plan", "plan_conversion", "transform", "keeps_bytes"]


@dataclass(frozen=True)
class Step:
    """One output tensor: read ``source``, transform, write as ``target``."""

    source: str
    target: str
    shape: tuple[int, ...]  # in the target's layout
    tree_name: str  # the target tree's name (decides the layout); equals ``target`` except for Flax safetensors


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # target weights no source tensor provides
    unexpected: list[str] = field(default_factory=list)  # source tensors the target has no place for
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # (source, its shape, target's)


def _fits(source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> bool:
    """Same shape, or the same once size-1 axes are dropped (TF ``[1, n]`` biases)."""
    if source_shape == target_shape:
        return True
    return [d for d in source_shape if d != 1] == [d for d in target_shape if d != 1]


def plan_conversion(shapes: dict[str, tuple[int, ...]], source_framework: str, tree: ParameterTree | None,
                    target_framework: str, *, output_names: Any = None, keep_derived: bool = False) -> Plan:
    """Pair every source tensor with the target's weight.

    Args:
        shapes: source tensor names (as the writing framework stored them) and shapes.
        tree: the target architecture's tree; ``None`` only for a PyTorch
            target, where the names alone decide (everything goes to canonical form).
        output_names: maps a tree name to the name written (Flax safetensors
            join with dots); identity by default.
        keep_derived: write tied duplicates (``lm_head.weight``) too, as ``.bin`` files do.
    """
    rename = output_names or (lambda name: name)
    plan = Plan()
    canonical = {name: canonical_name(name, source_framework) for name in shapes}
    if tree is None:
        if target_framework != "pt":
            raise ConversionError("converting to TF or Flax needs the target architecture", where="plan_conversion",
                                  fix="Pass the target adapter's parameter tree.")
        seen: set[str] = set()
        for name, shape in shapes.items():
            target = canonical[name]
            if target in seen:
                continue
            seen.add(target)
            plan.steps.append(Step(name, target, canonical_shape(name, shape, source_framework), target))
        return plan
    by_canonical = {canonical_name(name, tree.framework): name for name in tree.shapes}
    mapping = strip_or_add_prefix(list(canonical.values()), set(by_canonical), tree.base_model_prefix)
    done: set[str] = set()
    for name, shape in shapes.items():
        target = by_canonical.get(mapping[canonical[name]])
        if target is None:
            if not is_derived(canonical[name]):
                plan.unexpected.append(name)
            continue
        if target in done:  # a tied duplicate in the source (.bin keeps both names)
            continue
        if (is_derived(canonical_name(target, tree.framework)) and not keep_derived):
            done.add(target)
            continue
        wanted = tree.shapes[target]
        have = canonical_shape(name, tuple(shape), source_framework)
        if not _fits(have, canonical_shape(target, wanted, tree.framework)):
            plan.mismatched.append((name, tuple(shape), wanted))
            done.add(target)
            continue
        done.add(target)
        plan.steps.append(Step(name, rename(target), wanted, target))
    plan.missing = [name for name in tree.shapes if name not in done and not is_derived(canonical_name(name, tree.framework))]
    return plan


def transform(step: Step, array: np.ndarray, source_framework: str, target_framework: str) -> np.ndarray:
    """The source tensor of ``step`` in the target's name layout and shape (exact: one transpose at most, and reshapes)."""
    order = layout_permutation(step.source, source_framework, step.tree_name, target_framework, array.ndim)
    if order is not None:
        array = aligned_copy(array.transpose(order))
    return reconcile_shape(step.tree_name, array, step.shape)  # TF's [1, n] biases: size-1 axes only


def keeps_bytes(step: Step, ndim: int, source_framework: str, target_framework: str) -> bool:
    """True when :func:`transform` leaves the tensor's bytes as they are (no transpose; reshapes only)."""
    return layout_permutation(step.source, source_framework, step.tree_name, target_framework, ndim) is None
