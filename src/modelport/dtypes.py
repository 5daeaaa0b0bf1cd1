"""Canonical dtype names shared by the core and every adapter.

One table, keyed by canonical name, gives each dtype's size, its safetensors
code and the numpy type that holds it exactly (bfloat16 and float8 through
``ml_dtypes``, so nothing is silently upcast). :func:`canonical_dtype` turns
the spellings users and frameworks use (``"bf16"``, ``"torch.float16"``,
``"half"``, ``np.float32``, ``tf.bfloat16``...) into a canonical name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from .errors import DtypeError

__all__ = ["DType", "DTYPES", "canonical_dtype", "dtype_info", "numpy_dtype", "from_safetensors_code"]


@dataclass(frozen=True)
class DType:
    """Facts about one canonical dtype."""

    name: str
    itemsize: int
    safetensors_code: str
    numpy: np.dtype
    is_floating: bool


def _entry(name: str, code: str, np_type: Any, floating: bool) -> DType:
    dt = np.dtype(np_type)
    return DType(name, dt.itemsize, code, dt, floating)


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        _entry("float64", "F64", np.float64, True),
        _entry("float32", "F32", np.float32, True),
        _entry("float16", "F16", np.float16, True),
        _entry("bfloat16", "BF16", ml_dtypes.bfloat16, True),
        _entry("float8_e4m3fn", "F8_E4M3", ml_dtypes.float8_e4m3fn, True),
        _entry("float8_e5m2", "F8_E5M2", ml_dtypes.float8_e5m2, True),
        _entry("int64", "I64", np.int64, False),
        _entry("int32", "I32", np.int32, False),
        _entry("int16", "I16", np.int16, False),
        _entry("int8", "I8", np.int8, False),
        _entry("uint8", "U8", np.uint8, False),
        _entry("bool", "BOOL", np.bool_, False),
    )
}

_BY_CODE = {d.safetensors_code: d for d in DTYPES.values()}

# Spellings seen in configs, command lines and framework reprs. Lower-case keys;
# lookups lower-case the input first. Safetensors codes are accepted too.
_ALIASES: dict[str, str] = {
    "double": "float64", "fp64": "float64", "f64": "float64",
    "float": "float32", "fp32": "float32", "f32": "float32", "single": "float32",
    "half": "float16", "fp16": "float16", "f16": "float16",
    "bf16": "bfloat16",
    "fp8_e4m3": "float8_e4m3fn", "f8_e4m3": "float8_e4m3fn", "float8_e4m3": "float8_e4m3fn",
    "fp8_e5m2": "float8_e5m2", "f8_e5m2": "float8_e5m2",
    "long": "int64", "i64": "int64",
    "int": "int32", "i32": "int32",
    "short": "int16", "i16": "int16",
    "i8": "int8",
    "byte": "uint8", "u8": "uint8",
    "bool_": "bool",
}
_ALIASES.update({name: name for name in DTYPES})
_ALIASES.update({code.lower(): d.name for code, d in _BY_CODE.items()})

_FRAMEWORK_PREFIXES = ("torch.", "tf.", "jnp.", "np.", "numpy.", "jax.numpy.", "tensorflow.")


def _spelling_of(value: Any) -> str | None:
    """The text to look up for ``value``, or None if it has no usable spelling."""
    if value is None or isinstance(value, (bool, int, float)):
        return None  # np.dtype(None) would quietly mean float64
    if isinstance(value, str):
        return value
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    # tf.DType has .name; torch.dtype prints as "torch.float16"; neither is imported here.
    module = type(value).__module__ or ""
    if module.startswith("torch"):
        return str(value)
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    try:
        return np.dtype(value).name  # e.g. jax's scalar types
    except (TypeError, ValueError):
        return None


def canonical_dtype(value: Any) -> str:
    """Return the canonical name of a dtype given in any common spelling.

    Example:
        >>> canonical_dtype("bf16"), canonical_dtype("torch.float16"), canonical_dtype("half")
        ('bfloat16', 'float16', 'float16')

    Raises:
        DtypeError: the value names no dtype modelport knows.
    """
    spelling = _spelling_of(value)
    if spelling is not None:
        key = spelling.strip().lower()
        for prefix in _FRAMEWORK_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if key in _ALIASES:
            return _ALIASES[key]
    raise DtypeError(
        "unknown dtype",
        where="dtype",
        expected="one of " + ", ".join(DTYPES) + " (or an alias such as 'bf16', 'half', 'torch.float16')",
        received=value,
    )


def dtype_info(value: Any) -> DType:
    """The :class:`DType` entry for any spelling accepted by :func:`canonical_dtype`."""
    return DTYPES[canonical_dtype(value)]


def numpy_dtype(value: Any) -> np.dtype:
    """The numpy dtype that holds ``value`` exactly (ml_dtypes for bfloat16 and float8)."""
    return dtype_info(value).numpy


def from_safetensors_code(code: str, *, where: str | None = None) -> DType:
    """The dtype of a safetensors header code such as ``"F32"`` or ``"BF16"``.

    Codes are case-sensitive, as in the safetensors format: ``"f32"`` is refused.
    """
    try:
        return _BY_CODE[code]
    except (KeyError, TypeError):
        raise DtypeError(
            "unsupported safetensors dtype code",
            where=where,
            expected="one of " + ", ".join(_BY_CODE),
            received=code,
        ) from None
