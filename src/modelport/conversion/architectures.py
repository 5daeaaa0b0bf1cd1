"""What names alone cannot say about an architecture, as data: one table per ``model_type``, for conversions into
PyTorch of architectures modelport has no model class for.

TF and Flax names decide almost every PyTorch weight (:mod:`.rules`). The rest is
per architecture. A table lists each class a TF or Flax ``save_pretrained`` names
in ``architectures``: the PyTorch class it is (Flax's ``BertForCausalLM`` is
PyTorch's ``BertLMHeadModel``), whether it is the bare base model (whose PyTorch
names drop the ``base_model_prefix`` that TF's main layer still names), and, for
each source framework, its rules:

* ``renames``: canonical names PyTorch spells otherwise (regex, replacement);
* ``layouts``: weights stored in another layout than their name says (the axes
  order from the stored tensor to PyTorch's);
* ``unit_axes``: weights whose PyTorch shape has size-1 axes the stored one lacks
  (or the other way round): where the size-1 axes of the PyTorch shape are;
* ``dropped``: stored tensors the PyTorch class has no place for (TF's MPNet
  heads keep a pooler PyTorch's do not have), with the reason;
* ``buffers``: PyTorch buffers the source never stores, added beside a stored
  tensor (a batch norm's ``num_batches_tracked`` beside its ``running_mean``);
* ``ties``: weights PyTorch ties to another while ``tie_word_embeddings`` is true
  but the source keeps apart (TF XGLM's ``lm_head``). The converter compares
  the two: equal, the copy is left out; different, both are written and the
  result's config unties them, so that PyTorch does not overwrite one with the other;
* ``computed``: weights the source's framework computes and PyTorch stores
  (Flax Marian's sinusoidal position tables), with their shape from the config;
  or weights the source never saves and reloads at a config value (TF
  VisionTextDualEncoder's ``logit_scale`` is ``logit_scale_init_value``), kind
  :data:`CONFIG_VALUE` with the attribute as ``value``.

Rules belong to one class and one framework, never to the whole model type: a
rename one head needs may be wrong for another.

The tables are generated and checked in the golden environment against
transformers 4.57.6's PyTorch classes (``tests/golden/make_rescue_tables.py``); nothing here
is guessed at run time. A value kind a table names must be one of
:data:`VALUE_KINDS`, each checked there against PyTorch's own initialisation.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeGuard

import numpy as np

from ..dtypes import DTYPES
from ..errors import ConversionError
from ..modeling.ties import base_model_prefix

__all__ = ["ArchitectureTable", "CONFIG_VALUE", "Computed", "NameRules", "PytorchClass", "Rules", "VALUE_KINDS", "table_for",
           "name_rules", "known_model_types", "made_tensor"]

_TABLES = "architectures"  # the package folder holding <model_type>.json
_MAX_COMPUTED_VALUES = 2**28  # a computed weight is made in memory: 1 GiB of float32 at most (real ones are ~1 MB)


def _sinusoidal_halves(shape: tuple[int, ...]) -> np.ndarray:
    """Marian's, Pegasus' and RoFormer's position tables: sines of the even frequencies in the first half, cosines of the odd
    ones in the second (angles computed in float64, stored as float32)."""
    positions, dim = shape
    exponent = 2 * (np.arange(dim) // 2) / dim
    angles = np.arange(positions, dtype=np.float64)[:, None] / np.power(10000.0, exponent)[None, :]
    half = (dim + 1) // 2
    table = np.empty((positions, dim), dtype=np.float32)
    table[:, :half] = np.sin(angles[:, 0::2])
    table[:, half:] = np.cos(angles[:, 1::2])
    return table


#: how a tensor the source does not store is made: kind -> (shape -> value)
def _sinusoidal_interleaved(shape: tuple[int, ...]) -> np.ndarray:
    """DistilBERT's position table: sines on the even columns, cosines on the odd ones."""
    from ..models.distilbert import sinusoidal_positions

    return sinusoidal_positions(*shape)


VALUE_KINDS: dict[str, Callable[[tuple[int, ...]], np.ndarray]] = {
    "zero_count": lambda shape: np.zeros(shape, dtype=np.int64),  # a batch norm's num_batches_tracked
    "sinusoidal_halves": _sinusoidal_halves,
    "sinusoidal_interleaved": _sinusoidal_interleaved,
}

#: the kind of a weight filled with a config value (its attribute is the table entry's ``value``)
CONFIG_VALUE = "config_value"


def made_tensor(kind: str, shape: tuple[int, ...], dtype: str, value: float | None = None) -> np.ndarray:
    """A tensor the conversion makes rather than reads: of a value kind, or filled with the config's ``value``."""
    if kind == CONFIG_VALUE:
        return np.full(shape, value, dtype=DTYPES[dtype].numpy)
    made = VALUE_KINDS[kind](shape)
    return made if made.dtype == DTYPES[dtype].numpy else made.astype(DTYPES[dtype].numpy)


def _size(config: Any, name: str) -> Any:
    """A config attribute (``d_model``) or the quotient of two (``hidden_size/num_attention_heads``)."""
    if "/" not in name:
        return getattr(config, name, None)
    numerator, denominator = (getattr(config, part, None) for part in name.split("/", 1))
    if not (_positive_int(numerator) and _positive_int(denominator)):
        return None
    return numerator // denominator if numerator % denominator == 0 else None


def _positive_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class Computed:
    """A PyTorch weight made rather than read: ``name`` of ``shape`` (sizes, config attribute names, or quotients of two
    attributes such as ``hidden_size/num_attention_heads``), of ``kind``; for :data:`CONFIG_VALUE`, ``value`` names the
    config attribute that fills it."""

    name: str
    kind: str
    shape: tuple[str | int, ...]
    dtype: str
    value: str = ""

    def resolved_value(self, config: Any) -> float | None:
        """The config value that fills the weight (None for the other kinds)."""
        if self.kind != CONFIG_VALUE:
            return None
        value = getattr(config, self.value, None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ConversionError("the config does not give the value of a weight the source never saved", where=self.name,
                                  expected=f"a finite number as config attribute {self.value!r}", received=value,
                                  fix=f"Set {self.value!r} in config.json to the value the model was trained with.")
        return float(value)

    def resolved_shape(self, config: Any) -> tuple[int, ...]:
        dims = []
        for dim in self.shape:
            value = _size(config, dim) if isinstance(dim, str) else dim
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConversionError("the config does not give the size of a weight the conversion must compute",
                                      where=self.name, expected=f"an integer config attribute {dim!r}", received=value)
            dims.append(value)
        if int(np.prod(dims, dtype=np.float64)) > _MAX_COMPUTED_VALUES:
            raise ConversionError("the config sizes a computed weight absurdly large", where=self.name,
                                  expected=f"at most {_MAX_COMPUTED_VALUES:,} values", received=" x ".join(map(str, dims)))
        return tuple(dims)

    def make(self, shape: tuple[int, ...]) -> np.ndarray:
        return VALUE_KINDS[self.kind](shape)


@dataclass(frozen=True)
class Rules:
    """What the names of one class's checkpoints, written by one framework, do not say (see the module's docstring)."""

    renames: tuple[tuple[re.Pattern[str], str], ...] = ()
    layouts: tuple[tuple[re.Pattern[str], tuple[int, ...]], ...] = ()
    unit_axes: tuple[tuple[re.Pattern[str], tuple[int, ...]], ...] = ()
    dropped: tuple[tuple[re.Pattern[str], str], ...] = ()
    buffers: tuple[tuple[re.Pattern[str], str, str], ...] = ()  # (beside, name template, value kind)
    ties: tuple[tuple[str, str], ...] = ()  # (the weight PyTorch derives, the weight it copies), PyTorch names
    computed: tuple[Computed, ...] = ()

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Rules:
        return cls(
            renames=tuple((re.compile(r["match"]), r["to"]) for r in document.get("renames", ())),
            layouts=tuple((re.compile(r["match"]), tuple(r["order"])) for r in document.get("layouts", ())),
            unit_axes=tuple((re.compile(r["match"]), tuple(r["axes"])) for r in document.get("unit_axes", ())),
            dropped=tuple((re.compile(r["match"]), r["why"]) for r in document.get("dropped", ())),
            buffers=tuple((re.compile(r["beside"]), r["name"], r["kind"]) for r in document.get("buffers", ())),
            ties=tuple((t["weight"], t["to"]) for t in document.get("ties", ())),
            computed=tuple(Computed(c["name"], c["kind"], tuple(c["shape"]), c["dtype"], c.get("value", ""))
                           for c in document.get("computed", ())),
        )

    @property
    def kinds(self) -> set[str]:
        return {c.kind for c in self.computed} | {kind for _, _, kind in self.buffers}


@dataclass(frozen=True)
class PytorchClass:
    """The PyTorch class a saved ``architectures`` entry is, and the rules per source framework (``tf``, ``flax``)."""

    name: str
    base: bool = False  # the bare base model: its names drop the base_model_prefix
    rules: dict[str, Rules] = field(default_factory=dict)


@dataclass(frozen=True)
class ArchitectureTable:
    """One ``model_type``'s table (see the module's docstring)."""

    model_type: str
    base_model_prefix: str
    classes: dict[str, PytorchClass] = field(default_factory=dict)
    generated_by: str = ""

    @classmethod
    def from_json(cls, document: dict[str, Any], where: str) -> ArchitectureTable:
        try:
            classes = {saved: PytorchClass(entry["pytorch"], bool(entry.get("base", False)),
                                           {fw: Rules.from_json(entry[fw]) for fw in ("tf", "flax") if fw in entry})
                       for saved, entry in document.get("classes", {}).items()}
            table = cls(model_type=document["model_type"], base_model_prefix=document.get("base_model_prefix", ""),
                        classes=classes, generated_by=document.get("generated_by", ""))
        except (KeyError, TypeError, AttributeError, re.error) as exc:
            raise ConversionError("an architecture table is malformed", where=where, received=repr(exc)) from None
        unknown = {kind for entry in classes.values() for rules in entry.rules.values() for kind in rules.kinds}
        if unknown - VALUE_KINDS.keys() - {CONFIG_VALUE}:
            raise ConversionError("an architecture table names a value kind modelport cannot make", where=where,
                                  expected=", ".join([*VALUE_KINDS, CONFIG_VALUE]),
                                  received=sorted(unknown - VALUE_KINDS.keys() - {CONFIG_VALUE}))
        unnamed = [c.name for e in classes.values() for r in e.rules.values() for c in r.computed if c.kind == CONFIG_VALUE and not c.value]
        if unnamed:
            raise ConversionError("an architecture table fills weights with a config value but names no attribute", where=where,
                                  expected=f"a 'value' beside kind {CONFIG_VALUE!r}", received=unnamed)
        return table


@functools.cache
def known_model_types() -> tuple[str, ...]:
    """Every ``model_type`` with a table."""
    folder = resources.files(__package__).joinpath(_TABLES)
    return tuple(sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".json")))


@functools.cache
def table_for(model_type: str) -> ArchitectureTable | None:
    """The table of ``model_type``, or None when there is none."""
    if model_type not in known_model_types():
        return None
    path = resources.files(__package__).joinpath(_TABLES, f"{model_type}.json")
    return ArchitectureTable.from_json(json.loads(path.read_text(encoding="utf-8")), where=str(path))


@dataclass(frozen=True)
class Named:
    """Where one stored tensor goes in PyTorch: its name, its shape there, and the axes order from the stored
    layout when a table overrides the one its name implies (None: the name decides)."""

    name: str
    unit_axes: tuple[int, ...] | None = None
    layout: tuple[int, ...] | None = None


@dataclass(frozen=True)
class NameRules:
    """The per-architecture part of converting into PyTorch by names: the prefix to drop, and the table's rules for
    the checkpoint's class and framework (none when the table does not know the class)."""

    prefix: str = ""
    rules: Rules = field(default_factory=Rules)

    def place(self, canonical: str) -> Named | str:
        """Where the tensor whose generic canonical name is ``canonical`` goes, or why PyTorch has no place for it."""
        name = canonical[len(self.prefix) + 1:] if self.prefix and canonical.startswith(self.prefix + ".") else canonical
        for pattern, why in self.rules.dropped:
            if pattern.search(name):
                return why
        for pattern, replacement in self.rules.renames:
            if pattern.search(name):
                name = pattern.sub(replacement, name)
                break
        layout = next((order for pattern, order in self.rules.layouts if pattern.search(name)), None)
        axes = next((axes for pattern, axes in self.rules.unit_axes if pattern.search(name)), None)
        return Named(name, axes, layout)

    def buffers_beside(self, name: str) -> list[tuple[str, str]]:
        """PyTorch buffers to add beside the tensor named ``name`` (PyTorch's name): ``(name, value kind)``."""
        return [(pattern.sub(template, name), kind) for pattern, template, kind in self.rules.buffers if pattern.search(name)]

    @property
    def computed(self) -> tuple[Computed, ...]:
        return self.rules.computed

    @property
    def ties(self) -> tuple[tuple[str, str], ...]:
        return self.rules.ties


def name_rules(config: Any, framework: str) -> NameRules:
    """The rules for converting ``config``'s checkpoint, written by ``framework``, into PyTorch by names."""
    table = table_for(getattr(config, "model_type", "") or "")
    architectures = list(getattr(config, "architectures", None) or [])
    entry = table.classes.get(architectures[0]) if table is not None and architectures else None
    if table is None or entry is None:  # no table, or a class it does not know: the registered base models' prefix
        return NameRules(prefix=base_model_prefix(config))
    return NameRules(prefix=table.base_model_prefix if entry.base else "", rules=entry.rules.get(framework, Rules()))
