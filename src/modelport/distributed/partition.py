"""Which axis of each weight is split over which axes of a device mesh: partition rules as data.

A rule is ``(pattern, spec)``: the first rule whose regular expression matches a
weight's name (``re.search``) gives its spec, one entry per axis: ``None``
(whole on every device), a mesh axis name, or a tuple of names (split over their
product). A weight no rule matches is replicated.

Each reference architecture registers two default rule sets, written once over
PyTorch's names and layouts (the canonical form) and moved to each framework's
layout by the loader:

* ``"tp"`` (tensor parallel, Megatron's pairing): the projections into attention
  heads and the MLP's first layers are split by output feature, the projections
  out of them by input feature, embeddings and LM heads by vocabulary, over the
  mesh's **last** axis;
* ``"fsdp"`` (fully sharded): every weight's first axis split over **all** the
  mesh's axes.

Default specs name two logical axes, :data:`TP` and :data:`FSDP`, which
:func:`resolve_spec` replaces by the mesh's own axis names. An axis that the
mesh's devices do not divide evenly is left whole (a 50,257-token vocabulary on 4
devices), so every default fits every mesh.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..conversion.rules import canonical_name, canonical_shape, carry_long_axes, layout_permutation
from ..errors import ConfigError

__all__ = ["TP", "FSDP", "Spec", "PartitionRules", "register_partition_rules", "default_rules", "partition_styles",
           "resolve_spec", "spec_for"]

TP = "@tp"  # the mesh's last axis
FSDP = "@fsdp"  # all the mesh's axes together

Entry = str | tuple[str, ...] | None
Spec = tuple[Entry, ...]


@dataclass(frozen=True)
class PartitionRules:
    """An ordered rule list. ``canonical``: the patterns and specs are over PyTorch's names and layouts (the
    registered defaults); otherwise over the loading framework's own (what a user passes)."""

    rules: tuple[tuple[str, Spec], ...]
    canonical: bool = False

    def match(self, name: str) -> Spec | None:
        for pattern, spec in self.rules:
            if re.search(pattern, name):
                return tuple(spec)
        return None


_DEFAULTS: dict[tuple[str, str], PartitionRules] = {}

#: a callable ``(the framework's parameter name, its shape) -> spec or None``; or ``(pattern, spec)`` pairs;
#: or the name of a registered default style
RulesLike = str | PartitionRules | Sequence[tuple[str, Spec]] | Callable[[str, tuple[int, ...]], Spec | None]


def register_partition_rules(model_types: Sequence[str], style: str, rules: Sequence[tuple[str, Spec]]) -> None:
    """Register ``rules`` (over PyTorch names and layouts) as the ``style`` layout of each of ``model_types``."""
    for model_type in model_types:
        _DEFAULTS[(model_type, style)] = PartitionRules(tuple((p, tuple(s)) for p, s in rules), canonical=True)


def partition_styles(model_type: str) -> list[str]:
    """The default styles ``model_type`` has: ``"fsdp"`` always, and those registered for it."""
    return sorted({"fsdp"} | {style for known, style in _DEFAULTS if known == model_type})


def default_rules(model_type: str, style: str) -> PartitionRules:
    """The registered ``style`` rules of ``model_type``; the FSDP layout fits every architecture."""
    if style == "fsdp" and (model_type, style) not in _DEFAULTS:
        return _FSDP_ANY
    try:
        return _DEFAULTS[(model_type, style)]
    except KeyError:
        known = partition_styles(model_type)
        raise ConfigError(f"no default {style!r} partition rules for this architecture", where=f"model_type {model_type!r}",
                          expected=known, received=style,
                          fix="Pass partition_rules as (regex, PartitionSpec) pairs over the parameter names, or a "
                              "callable, or one of the styles listed.") from None


def resolve_spec(spec: Spec, shape: tuple[int, ...], mesh_axes: Mapping[str, int]) -> Spec:
    """``spec`` for a tensor of ``shape`` on a mesh of ``mesh_axes`` (name -> size, in the mesh's order): logical
    axes replaced by the mesh's, padded with None to the tensor's rank, and each split the devices do not divide
    evenly left whole."""
    names = list(mesh_axes)
    resolved: list[Entry] = []
    for axis, size in enumerate(shape):
        entry = spec[axis] if axis < len(spec) else None
        if entry == TP:
            entry = names[-1]
        elif entry == FSDP:
            entry = tuple(names) if len(names) > 1 else names[0]
        parts = (entry,) if isinstance(entry, str) else tuple(entry or ())
        unknown = [p for p in parts if p not in mesh_axes]
        if unknown:
            raise ConfigError("a partition spec names an axis the mesh does not have", where=f"spec {tuple(spec)!r}",
                              expected=names, received=unknown, fix="Name the mesh's own axes in partition_rules.")
        if parts and size % math.prod(mesh_axes[p] for p in parts):
            entry = None
        resolved.append(entry)
    return tuple(resolved)


def spec_for(rules: RulesLike, model_type: str, tree_name: str, framework: str, shape: tuple[int, ...],
             mesh_axes: Mapping[str, int]) -> Spec:
    """The spec of the framework's weight ``tree_name`` (of ``shape``, in the framework's layout) under ``rules``,
    in that layout."""
    if isinstance(rules, str):
        rules = default_rules(model_type, rules)
    elif callable(rules) and not isinstance(rules, PartitionRules):
        found = rules(tree_name, shape)
        return resolve_spec(tuple(found) if found is not None else (), shape, mesh_axes)
    elif not isinstance(rules, PartitionRules):
        rules = PartitionRules(tuple((p, tuple(s)) for p, s in rules))
    if not rules.canonical:
        return resolve_spec(rules.match(tree_name) or (), shape, mesh_axes)
    name = canonical_name(tree_name, framework)
    pt_shape = canonical_shape(tree_name, shape, framework)
    canonical = rules.match(name) or ()
    canonical = tuple(canonical[axis] if axis < len(canonical) else None for axis in range(len(pt_shape)))
    if len(pt_shape) == len(shape):  # the framework's axis ``i`` is PyTorch's axis ``order[i]``
        order = layout_permutation(name, "pt", tree_name, framework, len(shape)) or tuple(range(len(shape)))
        spec = tuple(canonical[axis] for axis in order)
    else:  # only size-1 axes differ (TF's [1, n] biases)
        spec = carry_long_axes(canonical, pt_shape, shape, None)
    return resolve_spec(spec, shape, mesh_axes)


_FSDP_ANY = PartitionRules(((r".", (FSDP,)),), canonical=True)

# -- the reference architectures' defaults (PyTorch names and [out, in] Linear weights; GPT-2's Conv1D is [in, out]) --
_LLAMA_TP = [
    (r"embed_tokens\.weight$", (TP, None)),
    (r"(q_proj|k_proj|v_proj|gate_proj|up_proj)\.weight$", (TP, None)),
    (r"(q_proj|k_proj|v_proj)\.bias$", (TP,)),
    (r"(o_proj|down_proj)\.weight$", (None, TP)),
    (r"lm_head\.weight$", (TP, None)),
]
register_partition_rules(["llama", "mistral", "qwen2", "gemma"], "tp", _LLAMA_TP)

# GPT-2's attention is left whole: its c_attn holds queries, keys and values side by side, so a contiguous block of
# its columns is not a set of whole heads
register_partition_rules(["gpt2"], "tp", [
    (r"wte\.weight$", (TP, None)),
    (r"mlp\.c_fc\.weight$", (None, TP)),
    (r"mlp\.c_fc\.bias$", (TP,)),
    (r"mlp\.c_proj\.weight$", (TP, None)),
])

register_partition_rules(["bert", "roberta", "xlm-roberta", "camembert", "electra"], "tp", [
    (r"word_embeddings\.weight$", (TP, None)),
    (r"attention\.self\.(query|key|value)\.weight$", (TP, None)),
    (r"attention\.self\.(query|key|value)\.bias$", (TP,)),
    (r"intermediate\.dense\.weight$", (TP, None)),
    (r"intermediate\.dense\.bias$", (TP,)),
    (r"(attention\.output|\.output)\.dense\.weight$", (None, TP)),
])
