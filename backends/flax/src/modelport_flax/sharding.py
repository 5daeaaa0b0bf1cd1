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
from typing import Any

import jax
from jax.sharding import NamedSharding, PartitionSpec

from modelport.distributed import BlockReader, spec_for
from modelport.distributed.partition import partition_styles

__all__ = ["place_blocks_on", "default_style", "sharding_of"]


def default_style(model_type: str) -> str:
    """Tensor parallel where the architecture registers it, else fully sharded."""
    return "tp" if "tp" in partition_styles(model_type) else "fsdp"


def sharding_of(mesh: Any, rules: Any, model_type: str, path: str, shape: tuple[int, ...]) -> NamedSharding:
    """Where the weight ``path`` of ``shape`` lives on ``mesh`` under ``rules`` (None: the default style)."""
    spec = spec_for(rules if rules is not None else default_style(model_type), model_type, path, "flax", shape,
                    dict(mesh.shape))
    return NamedSharding(mesh, PartitionSpec(*spec))


def place_blocks_on(mesh: Any, rules: Any, model_type: str, into: dict[str, Any]) -> Callable[[str, tuple[int, ...], BlockReader], None]:
    """The core loader's ``place_blocks``: each weight as a sharded ``jax.Array`` in ``into`` (path -> array)."""

    def place(path: str, shape: tuple[int, ...], read: BlockReader) -> None:
        into[path] = jax.make_array_from_callback(shape, sharding_of(mesh, rules, model_type, path, shape), read)

    return place
