"""Which source tensor becomes which target tensor, decided from headers and the target's parameter tree alone.

Every source name goes to the canonical (PyTorch) form by rule; the target's
tree (names and shapes its framework uses, built without weight memory by the
target adapter) says where each canonical weight lands and in which layout.
Nothing is read here: the plan is checked against shapes first, so a wrong
pairing is reported before a byte is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import frameworks
from ..adapters.base import ParameterTree
from ..errors import ConversionError
from ..formats._buffers import aligned_copy
from ..modeling.ties import computed_buffer
from .architectures import NameRules
from .rules import (
    canonical_name,
    canonical_shape,
    layout_permutation,
    reconcile_shape,
    strip_or_add_prefix,
    to_canonical,
)

__all__ = ["Step", "Check", "Plan", "plan_conversion", "redundancy_failures", "transform", "swaps_matrix", "keeps_bytes", "layout_order"]


@dataclass(frozen=True)
class Step:
    """One output tensor: read ``source``, transform, write as ``target``."""

    source: str  # "" for a tensor made, not read (``made``)
    target: str
    shape: tuple[int, ...]  # in the target's layout
    tree_name: str  # the target tree's name (decides the layout); equals ``target`` except for Flax safetensors
    #: the axes order from the stored layout to the target's when an architecture table overrides what the names
    #: imply (:mod:`.architectures`); None: the names decide
    layout: tuple[int, ...] | None = None
    made: str = ""  # a value kind of :data:`.architectures.VALUE_KINDS`: the tensor is computed, not read
    dtype: str = ""  # the dtype of a made tensor
    value: float | None = None  # the config value a made tensor of kind CONFIG_VALUE holds


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
    #: source tensors an architecture table says the target class has no place for, with the table's reason
    dropped: list[tuple[str, str]] = field(default_factory=list)
    #: (copy, origin) source tensors PyTorch ties while the config says so: the converter compares them
    ties: list[tuple[str, str]] = field(default_factory=list)


def _fits(source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> bool:
    """Same shape, or the same once size-1 axes are dropped (TF ``[1, n]`` biases)."""
    if source_shape == target_shape:
        return True
    return [d for d in source_shape if d != 1] == [d for d in target_shape if d != 1]


def plan_conversion(shapes: dict[str, tuple[int, ...]], source_framework: str, tree: ParameterTree | None,
                    target_framework: str, *, output_names: Any = None, keep_derived: bool = False,
                    aliases: dict[str, str] | None = None, names: NameRules | None = None, config: Any = None) -> Plan:
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
        names: without a tree, the architecture's rules for PyTorch names (:func:`.architectures.name_rules`):
            the prefix of a TF base model's main layer, and its table's exceptions.
        config: without a tree, the config that sizes the weights a table says to compute.
    """
    rename = output_names or (lambda name: name)
    plan = Plan()
    canonical = {name: canonical_name(name, source_framework) for name in shapes}
    if tree is None:
        if target_framework != "pt":
            raise ConversionError("converting to TF or Flax needs the target architecture", where="plan_conversion",
                                  fix="Pass the target adapter's parameter tree.")
        return _plan_by_names(plan, shapes, source_framework, names or NameRules(), config)
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
    if frameworks.get(tree.framework).holds_tied_copies:
        _fill_tied_copies(plan, tree, by_canonical, stored, done, rename)
    derived = {by_canonical[name] for name in tree.tied if name in by_canonical}
    plan.missing = [name for name in tree.shapes if name not in done and name not in derived]
    _make_computed(plan, tree, rename)
    return plan


def _make_computed(plan: Plan, tree: ParameterTree, rename: Any) -> None:
    """A made step for each missing weight the model computes under its config (DistilBERT's sinusoidal table, which
    transformers' Flax class does not store): the value kind the tree declares, not a missing weight."""
    for name in list(plan.missing):
        canonical = canonical_name(name, tree.framework)
        kind = next((kind for pattern, kind in tree.computed.items() if re.search(pattern, canonical)), None)
        if kind is not None:
            plan.missing.remove(name)
            plan.steps.append(Step("", rename(name), tree.shapes[name], name, made=kind, dtype="float32"))


def _fill_tied_copies(plan: Plan, tree: ParameterTree, by_canonical: dict[str, str], stored: dict[str, str], done: set[str],
                      rename: Any) -> None:
    """A step from the weight each tied copy copies to the copy, where the target model holds the copy as a
    variable of its own and no stored tensor filled it (a PyTorch file stores the shared tensor once)."""
    for copy, origin in tree.tied.items():
        target, source = by_canonical.get(copy), stored.get(origin)
        if target is None or source is None or target in done:
            continue
        done.add(target)
        plan.steps.append(Step(source, rename(target), tree.shapes[target], target))


def _plan_by_names(plan: Plan, shapes: dict[str, tuple[int, ...]], source_framework: str, names: NameRules,
                   config: Any) -> Plan:
    """Into PyTorch with no model to build: every name to its canonical form, then the architecture table's rules."""
    first: dict[str, str] = {}
    buffers: dict[str, str] = {}  # PyTorch buffers to add (name -> value kind), unless the source stores them
    for name, shape in shapes.items():
        placed = names.place(canonical_name(name, source_framework))
        if isinstance(placed, str):
            plan.dropped.append((name, placed))
            continue
        if placed.name in first:
            plan.checks.append(Check(name, "tied", first[placed.name]))
            continue
        first[placed.name] = name
        if placed.layout is not None:
            if sorted(placed.layout) != list(range(len(shape))):
                raise ConversionError("the architecture's table gives this tensor a layout of another rank", where=name,
                                      expected=f"{len(placed.layout)} axes", received=list(shape))
            target_shape = tuple(tuple(shape)[axis] for axis in placed.layout)
        else:
            target_shape = canonical_shape(name, shape, source_framework)
        if placed.unit_axes is not None:
            target_shape = _with_unit_axes(target_shape, placed.unit_axes)
        plan.steps.append(Step(name, placed.name, target_shape, placed.name, layout=placed.layout))
        buffers.update(names.buffers_beside(placed.name))
    for buffer, kind in buffers.items():
        if buffer not in first:
            plan.steps.append(Step("", buffer, (), buffer, made=kind, dtype="int64"))
    for weight, origin in names.ties if getattr(config, "tie_word_embeddings", True) else ():  # PyTorch ties them only then
        if weight in first and origin in first:
            plan.ties.append((first[weight], first[origin]))
    for computed in names.computed:
        if computed.name not in first:
            shape = computed.resolved_shape(config)
            plan.steps.append(Step("", computed.name, shape, computed.name, made=computed.kind, dtype=computed.dtype,
                                   value=computed.resolved_value(config)))
    return plan


def _with_unit_axes(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without its size-1 axes, then with size-1 axes at ``axes`` of the result."""
    sizes = [d for d in shape if d != 1]
    for axis in sorted(axes):
        sizes.insert(axis, 1)
    return tuple(sizes)


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


def layout_order(step: Step, ndim: int, source_framework: str, target_framework: str) -> tuple[int, ...] | None:
    """The transpose :func:`transform` does: a table's layout, or what the names imply; None for none."""
    if step.layout is not None:
        return None if step.layout == tuple(range(ndim)) else step.layout
    return layout_permutation(step.source, source_framework, step.tree_name, target_framework, ndim)


def transform(step: Step, array: np.ndarray, source_framework: str, target_framework: str) -> np.ndarray:
    """The source tensor of ``step`` in the target's name layout and shape (exact: one transpose at most, and reshapes)."""
    order = layout_order(step, array.ndim, source_framework, target_framework)
    if order is not None:
        array = aligned_copy(array.transpose(order))
    return reconcile_shape(step.tree_name, array, step.shape)  # TF's [1, n] biases: size-1 axes only


def swaps_matrix(step: Step, ndim: int, source_framework: str, target_framework: str) -> bool:
    """True when :func:`transform` is one matrix transpose (a Dense kernel to or from PyTorch's layout), which
    :func:`~modelport.formats.base.read_transposed` can do while reading."""
    return ndim == 2 and layout_order(step, ndim, source_framework, target_framework) == (1, 0)


def keeps_bytes(step: Step, ndim: int, source_framework: str, target_framework: str) -> bool:
    """True when :func:`transform` leaves the tensor's bytes as they are (no transpose; reshapes only)."""
    return layout_order(step, ndim, source_framework, target_framework) is None
