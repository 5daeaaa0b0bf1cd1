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
from ..formats._buffers import aligned_copy
from ..modeling.ties import computed_buffer
from .rules import (
    canonical_name,
    canonical_shape,
    layout_permutation,
    reconcile_shape,
    strip_or_add_prefix,
    to_canonical,
)

__all__ = ["Step", "Check", "Plan", "plan_conversion", "redundancy_failures", "transform", "swaps_matrix", "keeps_bytes"]


@dataclass(frozen=True)
class Step:
    """One output tensor: read ``source``, transform, write as ``target``."""

    source: str
    target: str
    shape: tuple[int, ...]  # in the target's layout
    tree_name: str  # the target tree's name (decides the layout); equals ``target`` except for Flax safetensors


@dataclass(frozen=True)
class Check:
    """A source tensor the target does not load because it should be redundant; :func:`redundancy_failures` proves it.

    ``kind`` is ``"tied"`` (it must equal ``other``, the stored tensor it is tied to) or ``"buffer"`` (it must
    hold the value the model computes).
    """

    source: str
    kind: str
    other: str = ""


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # target weights no source tensor provides
    unexpected: list[str] = field(default_factory=list)  # source tensors the target has no place for
    #: (the target's name, the source tensor's shape as stored, the target's shape)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)  # source tensors to prove redundant before they may be left out
    #: source tensors proven redundant from headers alone (stored as views of the weight they are tied to)
    aliased: list[str] = field(default_factory=list)


def _fits(source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> bool:
    """Same shape, or the same once size-1 axes are dropped (TF ``[1, n]`` biases)."""
    if source_shape == target_shape:
        return True
    return [d for d in source_shape if d != 1] == [d for d in target_shape if d != 1]


def plan_conversion(shapes: dict[str, tuple[int, ...]], source_framework: str, tree: ParameterTree | None,
                    target_framework: str, *, output_names: Any = None, keep_derived: bool = False,
                    aliases: dict[str, str] | None = None, base_prefix: str = "") -> Plan:
    """Pair every source tensor with the target's weight: the one mapping of the converter and every model loader.

    Every source tensor ends in exactly one place: a step, ``unexpected``, ``mismatched``, ``aliased`` or
    ``checks`` (a tied copy or computed buffer, left out only once :func:`redundancy_failures` proves it).

    Args:
        shapes: source tensor names (as the writing framework stored them) and shapes.
        tree: the target architecture's tree (with its active ties); ``None`` only for a PyTorch
            target, where the names alone decide (everything goes to canonical form).
        output_names: maps a tree name to the name written (Flax safetensors
            join with dots); identity by default.
        keep_derived: write tied copies the target tree lists (``lm_head.weight``) too, as ``.bin`` files do.
        aliases: source names stored as views of another source tensor (``Checkpoint.aliases()``).
        base_prefix: without a tree, the prefix to drop from canonical names (a TF base model's main layer,
            :func:`modelport.modeling.ties.base_model_prefix`).
    """
    rename = output_names or (lambda name: name)
    plan = Plan()
    canonical = {name: canonical_name(name, source_framework) for name in shapes}
    if tree is None:
        if target_framework != "pt":
            raise ConversionError("converting to TF or Flax needs the target architecture", where="plan_conversion",
                                  fix="Pass the target adapter's parameter tree.")
        first: dict[str, str] = {}
        for name, shape in shapes.items():
            pytorch_name = canonical[name]
            if base_prefix and pytorch_name.startswith(base_prefix + "."):
                pytorch_name = pytorch_name[len(base_prefix) + 1:]
            if pytorch_name in first:
                plan.checks.append(Check(name, "tied", first[pytorch_name]))
                continue
            first[pytorch_name] = name
            plan.steps.append(Step(name, pytorch_name, canonical_shape(name, shape, source_framework), pytorch_name))
        return plan
    by_canonical = {canonical_name(name, tree.framework): name for name in tree.shapes}
    prefixed = strip_or_add_prefix(list(canonical.values()), set(by_canonical) | set(tree.tied), tree.base_model_prefix)
    mapped = {name: prefixed[canonical[name]] for name in shapes}
    stored: dict[str, str] = {}  # mapped canonical name -> the first source tensor stored under it
    for name in shapes:
        stored.setdefault(mapped[name], name)
    aliases = aliases or {}
    done: set[str] = set()
    for name, shape in shapes.items():
        wanted_name = mapped[name]
        if wanted_name in tree.tied:
            origin = stored.get(tree.tied[wanted_name])
            if origin is not None:  # a stored copy of a tied weight: left out once proven equal
                if aliases.get(name) == origin or aliases.get(origin) == name:
                    plan.aliased.append(name)
                else:
                    plan.checks.append(Check(name, "tied", origin))
                if not (keep_derived and wanted_name in by_canonical):
                    continue
            elif wanted_name not in by_canonical:
                wanted_name = tree.tied[wanted_name]  # the weight it copies is not stored: this copy is its value
        target = by_canonical.get(wanted_name)
        if target is None:
            if computed_buffer(tree.model_type, canonical[name]) is not None:
                plan.checks.append(Check(name, "buffer"))
            else:
                plan.unexpected.append(name)
            continue
        if target in done:  # a second tensor for one weight that no declared tie explains
            plan.unexpected.append(name)
            continue
        done.add(target)
        wanted = tree.shapes[target]
        have = canonical_shape(name, tuple(shape), source_framework)
        if not _fits(have, canonical_shape(target, wanted, tree.framework)):
            plan.mismatched.append((target, tuple(shape), wanted))
            continue
        plan.steps.append(Step(name, rename(target), wanted, target))
    derived = {by_canonical[name] for name in tree.tied if name in by_canonical}
    plan.missing = [name for name in tree.shapes if name not in done and name not in derived]
    return plan


def redundancy_failures(plan: Plan, read: Any, source_framework: str, model_type: str = "") -> list[tuple[str, str]]:
    """Read the tensors of ``plan.checks`` and return ``(source name, why)`` for each that is not redundant.

    ``read(name)`` returns a source tensor as stored. A tied copy must equal the weight it is tied to (in the
    canonical layout); a buffer must hold the value the model computes.
    """
    failures = []
    for check in plan.checks:
        if check.kind == "tied":
            ours = to_canonical(check.source, read(check.source), source_framework)[1]
            theirs = to_canonical(check.other, read(check.other), source_framework)[1]
            if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
                failures.append((check.source, f"is tied to {check.other!r} by the config but holds other values"))
        else:
            matches = computed_buffer(model_type, canonical_name(check.source, source_framework))
            if matches is None or not matches(read(check.source)):
                failures.append((check.source, "is a buffer the model computes, but holds other values"))
    return failures


def transform(step: Step, array: np.ndarray, source_framework: str, target_framework: str) -> np.ndarray:
    """The source tensor of ``step`` in the target's name layout and shape (exact: one transpose at most, and reshapes)."""
    order = layout_permutation(step.source, source_framework, step.tree_name, target_framework, array.ndim)
    if order is not None:
        array = aligned_copy(array.transpose(order))
    return reconcile_shape(step.tree_name, array, step.shape)  # TF's [1, n] biases: size-1 axes only


def swaps_matrix(step: Step, ndim: int, source_framework: str, target_framework: str) -> bool:
    """True when :func:`transform` is one matrix transpose (a Dense kernel to or from PyTorch's layout), which
    :func:`~modelport.formats.base.read_transposed` can do while reading."""
    return ndim == 2 and layout_permutation(step.source, source_framework, step.tree_name, target_framework, ndim) == (1, 0)


def keeps_bytes(step: Step, ndim: int, source_framework: str, target_framework: str) -> bool:
    """True when :func:`transform` leaves the tensor's bytes as they are (no transpose; reshapes only)."""
    return layout_permutation(step.source, source_framework, step.tree_name, target_framework, ndim) is None
