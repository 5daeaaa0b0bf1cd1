"""Splitting a checkpoint into shards: the algorithm, once, for every framework.

The framework-specific parts come in as callables (how many bytes a tensor's
storage holds, and which storage it shares), so the same code serves numpy
arrays, torch tensors and anything else, and is tested with fake tensors.

Rules (one for every backend, where transformers' backends disagreed):

* greedy in the given order: a new shard starts when the next tensor would
  pass the limit;
* a tensor larger than the limit goes alone into a shard of its own;
* tensors sharing one storage are counted once and stay in the first one's shard;
* there is never an empty shard;
* shard files are named ``<stem>-00001-of-00003<ext>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

from .errors import ModelportError

__all__ = ["parse_size", "human_bytes", "ShardPlan", "plan_shards", "shard_file_name", "is_shard_of", "stale_shards"]

T = TypeVar("T")

_UNITS = {
    "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def human_bytes(n: float) -> str:
    """``1234567`` is ``1.2 MB`` (decimal units, as the Hub and ``parse_size`` count)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def parse_size(size: int | str) -> int:
    """Bytes in a size given as an int or a string such as ``"5GB"``, ``"1.5GB"``, ``"500MiB"``.

    Decimal units (kB/KB, MB, GB, TB) are powers of 1000, binary units (KiB,
    MiB, GiB, TiB) powers of 1024; prefixes are case-insensitive. A unit ending
    in a lower-case ``b`` (``"5Gb"``) is refused: some tools read it as bits.

    Raises:
        ModelportError: the size is not understood or not positive.
    """
    if isinstance(size, bool) or not isinstance(size, (int, str)):
        raise ModelportError("a size must be an int or a string", where="max_shard_size", received=size)
    if isinstance(size, int):
        value = size
    else:
        match = _SIZE.match(size)
        unit = match.group(2) if match else ""
        if not match or (unit and (unit[-1] != "B" or unit.upper() not in _UNITS)):
            raise ModelportError(
                "size not understood",
                where="max_shard_size",
                expected="an int or a string like '5GB', '1.5GB', '500MiB', '100KB'",
                received=size,
                fix="Use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), with a capital B.",
            )
        try:
            value = int(Decimal(match.group(1)) * _UNITS[unit.upper() or "B"])
        except InvalidOperation:  # pragma: no cover - the regex only lets numbers through
            raise ModelportError("size not understood", where="max_shard_size", received=size) from None
    if value <= 0:
        raise ModelportError("a shard size must be positive", where="max_shard_size", received=size)
    return value


@dataclass(frozen=True)
class ShardPlan:
    """The names in each shard, in order, and each shard's size in bytes."""

    shards: list[list[str]]
    sizes: list[int]

    @property
    def total_size(self) -> int:
        return sum(self.sizes)

    def weight_map(self, file_names: list[str]) -> dict[str, str]:
        """Tensor name to shard file name, as an index's ``weight_map`` holds it."""
        return {name: file_names[i] for i, names in enumerate(self.shards) for name in names}


def plan_shards(
    tensors: Iterable[tuple[str, T]],
    max_shard_size: int | str,
    *,
    storage_size: Callable[[T], int],
    storage_id: Callable[[T], Hashable | None] = lambda _: None,
) -> ShardPlan:
    """Split named tensors into shards of at most ``max_shard_size`` bytes.

    Args:
        tensors: ``(name, tensor)`` pairs in the order they should be written.
        max_shard_size: the limit, as accepted by :func:`parse_size`.
        storage_size: the bytes a tensor's whole storage holds.
        storage_id: a key shared by tensors that share storage (None: not shared).

    Example:
        >>> plan = plan_shards([("a", [0] * 3), ("b", [0] * 3)], 4, storage_size=len)
        >>> plan.shards
        [['a'], ['b']]
    """
    limit = parse_size(max_shard_size)
    shards: list[list[str]] = []
    sizes: list[int] = []
    storage_shard: dict[Hashable, int] = {}
    for name, tensor in tensors:
        key = storage_id(tensor)
        if key is not None and key in storage_shard:
            shards[storage_shard[key]].append(name)  # shared storage: counted once, kept together
            continue
        size = storage_size(tensor)
        # An oversize tensor starts a shard and, being over the limit, closes it too.
        if not shards or size > limit or sizes[-1] + size > limit:
            shards.append([])
            sizes.append(0)
        shards[-1].append(name)
        sizes[-1] += size
        if key is not None:
            storage_shard[key] = len(shards) - 1
    return ShardPlan(shards, sizes)


def _split_name(file_name: str) -> tuple[str, str]:
    path = Path(file_name)
    return path.name[: len(path.name) - len(path.suffix)], path.suffix


def shard_file_name(file_name: str, index: int, count: int) -> str:
    """``model.safetensors`` with index 0 of 3 gives ``model-00001-of-00003.safetensors``.

    A single shard keeps the plain name, as transformers does.
    """
    if count == 1:
        return file_name
    stem, ext = _split_name(file_name)
    return f"{stem}-{index + 1:05d}-of-{count:05d}{ext}"


def is_shard_of(candidate: str, file_name: str) -> bool:
    """Whether ``candidate`` is named like a shard of ``file_name`` (any count)."""
    stem, ext = _split_name(file_name)
    return re.fullmatch(re.escape(stem) + r"-\d{5}-of-\d{5}" + re.escape(ext), candidate) is not None


def stale_shards(folder: str | Path, file_name: str, keep: Iterable[str]) -> list[Path]:
    """Shard files of an earlier save of ``file_name`` in ``folder`` that are not in ``keep``.

    Only names of the shard pattern are returned, so unrelated files (a
    tokenizer, a README) are never touched.
    """
    kept = set(keep)
    return sorted(
        p for p in Path(folder).iterdir() if p.is_file() and p.name not in kept and is_shard_of(p.name, file_name)
    )

