"""Params sharded over a ``jax.sharding.Mesh``, built from blocks each process reads itself.

``FlaxAutoModel.from_pretrained(path, _do_init=False, mesh=mesh, partition_rules=...)``
comes here. Each weight becomes one ``jax.make_array_from_callback`` call: JAX
asks for the blocks this process's devices hold, and the core's block reader
reads those bytes and nothing else. Rules are the core's
(:mod:`modelport.distributed.partition`): a style name (``"tp"``, ``"fsdp"``),
``(regex, PartitionSpec)`` pairs over the Flax parameter paths (``"/"``-joined),
or a callable ``(path, shape) -> PartitionSpec | None``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from modelport.conversion.rules import canonical_name, canonical_shape
from modelport.distributed import BlockReader, box_of, spec_for
from modelport.distributed.partition import partition_styles
from modelport.distributed.saving import LOCAL, Collective, GlobalTensor
from modelport.distributed.slices import canonical_block

__all__ = ["place_blocks_on", "automatic", "default_style", "sharding_of", "is_sharded", "global_tensors", "collective"]


def default_style(model_type: str) -> str:
    """Tensor parallel where the architecture registers it, else fully sharded."""
    return "tp" if "tp" in partition_styles(model_type) else "fsdp"


def automatic(mesh: Any) -> Any:
    """``mesh`` with every axis in JAX's automatic sharding mode. ``jax.make_mesh`` makes explicit axes by default,
    under which every op must be told its output's sharding; the models are written for the compiler to decide
    (a gather from a vocabulary-split embedding would fail otherwise)."""
    kinds = getattr(jax.sharding, "AxisType", None)
    types = getattr(mesh, "axis_types", None)
    if kinds is None or types is None or all(t == kinds.Auto for t in types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(kinds.Auto,) * len(mesh.axis_names))


def sharding_of(mesh: Any, rules: Any, model_type: str, path: str, shape: tuple[int, ...]) -> NamedSharding:
    """Where the weight ``path`` of ``shape`` lives on ``mesh`` under ``rules`` (None: the default style)."""
    spec = spec_for(rules if rules is not None else default_style(model_type), model_type, path, "flax", shape,
                    dict(mesh.shape))
    return NamedSharding(mesh, PartitionSpec(*spec))


def place_blocks_on(mesh: Any, rules: Any, model_type: str, into: dict[str, Any]) -> Callable[[str, tuple[int, ...], BlockReader], None]:
    """The core loader's ``place_blocks``: each weight as a sharded ``jax.Array`` in ``into`` (path -> array)."""

    mesh = automatic(mesh)

    def place(path: str, shape: tuple[int, ...], read: BlockReader) -> None:
        into[path] = jax.make_array_from_callback(shape, sharding_of(mesh, rules, model_type, path, shape), read)

    return place


def is_sharded(flat: dict[str, Any]) -> bool:
    """Whether any param lies on more than one device (then a save writes blocks, never gathering)."""
    return any(isinstance(leaf, jax.Array) and len(leaf.sharding.device_set) > 1 for leaf in flat.values())


def global_tensors(flat: dict[str, Any], dtype_of: Callable[[Any], str]) -> list[GlobalTensor]:
    """Each param as a canonical tensor and the blocks this process writes: the first replica of each shard its
    devices hold (``replica_id == 0``), so every block has one writer across all processes."""
    return [GlobalTensor(canonical_name(path, "flax"), dtype_of(leaf), canonical_shape(path, tuple(leaf.shape), "flax"),
                         partial(_blocks, path, leaf)) for path, leaf in flat.items()]


def _blocks(path: str, leaf: Any) -> Any:
    shape = tuple(leaf.shape)
    if not isinstance(leaf, jax.Array):  # a host array: the coordinator writes it
        if jax.process_index() == 0:
            yield canonical_block(path, "flax", shape, tuple((0, d) for d in shape), np.asarray(leaf))
        return
    for shard in leaf.addressable_shards:
        if shard.replica_id == 0:
            box = box_of(shard.index, shape, where=path)
            yield canonical_block(path, "flax", shape, box, np.asarray(shard.data))


def collective() -> Collective:
    """The save's collective over JAX's processes (one process: nothing to share)."""
    if jax.process_count() == 1:
        return LOCAL
    from jax.experimental import multihost_utils

    def total(n: int) -> int:
        return int(np.asarray(multihost_utils.process_allgather(np.array([n], dtype=np.int64))).sum())

    def share(value: str) -> str:
        raw = np.frombuffer(value.encode().ljust(16, b"\0")[:16], dtype=np.uint8)
        return bytes(np.asarray(multihost_utils.broadcast_one_to_all(raw))).rstrip(b"\0").decode()

    return Collective(jax.process_index() == 0, total, share)
