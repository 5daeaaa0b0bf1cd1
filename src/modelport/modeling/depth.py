"""Parameter trees at any depth for the cost of two layers.

A model's stack of identical layers names its weights by the layer's index
(``h.5.attn.c_attn.weight``, ``h_._5/attn/...`` or ``layers.5/...`` in TF, ``h/5/attn/...``). Building a
framework's model to learn those names costs time per layer (a TF graph trace
takes about 0.4 s per GPT-2 layer); so for architectures registered here the
tree is built at two layers (the first, which may differ from the rest as in
T5, and one to repeat) and the second layer's names are repeated for the
others. Tests compare the result with the full build for every registered
architecture in every framework.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

__all__ = ["register_repeated_layers", "tree_at_depth", "BUILT_LAYERS"]

#: how many layers are really built before the last one is repeated
BUILT_LAYERS = 2

_REPEATED: dict[str, str] = {}  # model_type -> the config attribute holding the number of repeated layers

#: how each naming writes a list item (the layer index), as a regex whose group 1 is the index
_LIST_ITEM = {"pt": re.compile(r"\.(\d+)\."), "tf": re.compile(r"(?:_\._|\.)(\d+)/"), "flax": re.compile(r"/(\d+)/")}
#: namings whose trees come in path order, as JAX flattens dicts (sorted keys at each level: "10" before "2")
_PATH_ORDER = {"flax"}


def register_repeated_layers(model_type: str, depth_attribute: str) -> None:
    """Declare that ``model_type``'s models repeat one layer ``config.<depth_attribute>`` times."""
    _REPEATED[model_type] = depth_attribute


def _naming(framework: str) -> str:
    from ..frameworks import get

    return framework if framework in _LIST_ITEM else get(framework).names_like


def tree_at_depth(config: Any, framework: str, build: Callable[[Any], Any]) -> Any:
    """``build(config)`` (a :class:`~modelport.adapters.base.ParameterTree`), built at :data:`BUILT_LAYERS` layers
    and extended to the config's depth when the architecture is registered; otherwise built as it is."""
    attribute = _REPEATED.get(str(getattr(config, "model_type", "")))
    depth = getattr(config, attribute, None) if attribute else None
    if attribute is None or not isinstance(depth, int) or depth <= BUILT_LAYERS:
        return build(config)
    shallow = copy.deepcopy(config)
    setattr(shallow, attribute, BUILT_LAYERS)
    tree = build(shallow)
    naming = _naming(framework)
    shapes = _repeat_last_layer(tree.shapes, _LIST_ITEM[naming], depth)
    if naming in _PATH_ORDER:
        shapes = dict(sorted(shapes.items(), key=lambda item: tuple(item[0].split("/"))))
    return replace(tree, shapes=shapes)


def _repeat_last_layer(shapes: dict[str, tuple[int, ...]], item: re.Pattern[str], depth: int) -> dict[str, tuple[int, ...]]:
    """The names of layer ``BUILT_LAYERS - 1`` repeated for every later layer, placed right after it."""
    last = str(BUILT_LAYERS - 1)
    names = list(shapes)
    group = [n for n in names if (m := item.search(n)) and m.group(1) == last]
    if not group:
        return dict(shapes)
    end = names.index(group[-1]) + 1
    extra: dict[str, tuple[int, ...]] = {}
    for index in range(BUILT_LAYERS, depth):
        for name in group:
            m = item.search(name)
            assert m is not None
            extra[name[: m.start(1)] + str(index) + name[m.end(1):]] = shapes[name]
    ordered = {n: shapes[n] for n in names[:end]}
    ordered.update(extra)
    ordered.update({n: shapes[n] for n in names[end:]})
    return ordered
