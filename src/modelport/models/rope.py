"""Rotary position embeddings: ``rope_scaling`` checked and turned into frequencies, once for every framework.

Each scaling type is a registered record: the keys it requires, the ones it
accepts besides, and how it computes the inverse frequencies (float32, as
transformers 4.57.6 computes them) and the factor applied to cos and sin.
A missing required key is a :class:`~modelport.errors.ConfigError` (transformers
raises a bare ``KeyError``); an unknown key or scaling type is a warning, as
there, so that configs written by newer versions still load. The adapters
turn :func:`rope_parameters` into cos/sin tables with their own ops.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["RopeScaling", "ROPE_SCALINGS", "register_rope_scaling", "validate_rope_scaling", "rope_parameters", "rope_type",
           "rotary_dim"]

logger = logging.getLogger(__name__)


#: (config, sequence length or None) -> (inverse frequencies as float32, factor on cos and sin)
Frequencies = Callable[[Any, "int | None"], "tuple[np.ndarray, float]"]


@dataclass(frozen=True)
class RopeScaling:
    """One ``rope_type``: its required keys besides ``rope_type``, the optional ones, and its frequencies."""

    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    checks_factor: bool = True  # "factor" should be a float >= 1
    frequencies: Frequencies | None = None
    grows_with_length: bool = False  # recomputed for sequences longer than max_position_embeddings (dynamic NTK)


ROPE_SCALINGS: dict[str, RopeScaling] = {}


def register_rope_scaling(rope_type: str, scaling: RopeScaling) -> None:
    ROPE_SCALINGS[rope_type] = scaling


def rotary_dim(config: Any) -> int:
    """How many features of each head rotate: ``head_dim`` (or hidden / heads) times ``partial_rotary_factor``."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return int(head_dim * getattr(config, "partial_rotary_factor", 1.0))


def _inverse_frequencies(base: float, dim: int) -> np.ndarray:
    # float32 throughout, as transformers computes them: 1 / base ** (2i / dim)
    return np.float32(1.0) / (np.float32(base) ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)))


def _default(config: Any, seq_len: int | None) -> tuple[np.ndarray, float]:
    return _inverse_frequencies(config.rope_theta, rotary_dim(config)), 1.0


def _linear(config: Any, seq_len: int | None) -> tuple[np.ndarray, float]:
    inv_freq, scale = _default(config, seq_len)
    return inv_freq / np.float32(config.rope_scaling["factor"]), scale


def _dynamic(config: Any, seq_len: int | None) -> tuple[np.ndarray, float]:
    dim, limit, factor = rotary_dim(config), config.max_position_embeddings, config.rope_scaling["factor"]
    length = max(seq_len or limit, limit)
    base = config.rope_theta * ((factor * length / limit) - (factor - 1)) ** (dim / (dim - 2))
    return _inverse_frequencies(base, dim), 1.0


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _yarn(config: Any, seq_len: int | None) -> tuple[np.ndarray, float]:
    scaling, dim, base = config.rope_scaling, rotary_dim(config), config.rope_theta
    factor = scaling["factor"]
    attention = scaling.get("attention_factor")
    if attention is None:
        mscale, mscale_all_dim = scaling.get("mscale"), scaling.get("mscale_all_dim")
        attention = (float(_yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all_dim)) if mscale and mscale_all_dim
                     else _yarn_mscale(factor))
    original = scaling.get("original_max_position_embeddings") or config.max_position_embeddings

    def correction_dim(rotations: float) -> float:  # the dimension whose wavelength fits `rotations` times in the context
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(scaling.get("beta_fast") or 32), correction_dim(scaling.get("beta_slow") or 1)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # no zero-width ramp
    ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - np.float32(low)) / np.float32(high - low), 0, 1).astype(np.float32)
    extrapolated = np.float32(1.0) - ramp  # share of the original frequency kept per dimension
    positions = np.float32(base) ** (np.arange(0, dim, 2).astype(np.float32) / np.float32(dim))
    inv_freq = (np.float32(1.0) / (np.float32(factor) * positions)) * (1 - extrapolated) + (np.float32(1.0) / positions) * extrapolated
    return inv_freq.astype(np.float32), float(attention)


def _llama3(config: Any, seq_len: int | None) -> tuple[np.ndarray, float]:
    inv_freq, scale = _default(config, seq_len)
    scaling = config.rope_scaling
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    context = scaling["original_max_position_embeddings"]
    wavelength = np.float32(2 * math.pi) / inv_freq
    scaled = np.where(wavelength > context / low, inv_freq / np.float32(factor), inv_freq)  # long waves: divided by factor
    smooth = (np.float32(context) / wavelength - np.float32(low)) / np.float32(high - low)
    smoothed = (1 - smooth) * scaled / np.float32(factor) + smooth * scaled
    between = ~(wavelength < context / high) & ~(wavelength > context / low)
    return np.where(between, smoothed, scaled).astype(np.float32), scale


register_rope_scaling("default", RopeScaling(frozenset(), checks_factor=False, frequencies=_default))
register_rope_scaling("linear", RopeScaling(frozenset({"factor"}), frequencies=_linear))
register_rope_scaling("dynamic", RopeScaling(frozenset({"factor"}), frozenset({"original_max_position_embeddings"}),
                                             frequencies=_dynamic, grows_with_length=True))
register_rope_scaling("yarn", RopeScaling(frozenset({"factor"}), frozenset({
    "attention_factor", "beta_fast", "beta_slow", "original_max_position_embeddings", "mscale", "mscale_all_dim", "truncate"}),
    frequencies=_yarn))
# validated like transformers, but no model here computes it yet: rope_parameters refuses it
register_rope_scaling("longrope", RopeScaling(frozenset({"short_factor", "long_factor"}),
                                              frozenset({"attention_factor", "factor", "original_max_position_embeddings"}),
                                              checks_factor=False))
register_rope_scaling("llama3", RopeScaling(frozenset({"factor", "original_max_position_embeddings", "low_freq_factor",
                                                       "high_freq_factor"}), frequencies=_llama3))


def rope_type(config: Any) -> str:
    """The config's scaling type: ``rope_scaling["rope_type"]`` (or the legacy ``type``), else ``default``."""
    scaling = getattr(config, "rope_scaling", None)
    if not isinstance(scaling, dict):
        return "default"
    return str(scaling.get("rope_type", scaling.get("type", "default")))


def rope_parameters(config: Any, seq_len: int | None = None) -> tuple[np.ndarray, float]:
    """Inverse frequencies (float32, one per rotating pair) and the factor on cos/sin for ``config``.

    ``seq_len`` matters only for scalings that grow with the length (dynamic NTK:
    beyond ``max_position_embeddings`` the base is stretched).
    """
    kind = rope_type(config)
    rule = ROPE_SCALINGS.get(kind)
    if rule is None or rule.frequencies is None:
        computable = sorted(k for k, r in ROPE_SCALINGS.items() if r.frequencies is not None)
        raise ConfigError("this rotary scaling type cannot be computed", where=type(config).__name__,
                          expected="one of " + ", ".join(computable), received=kind,
                          fix="Use a checkpoint whose rope_scaling has a supported rope_type.")
    return rule.frequencies(config, seq_len)


def validate_rope_scaling(rope_scaling: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    """A copy of ``rope_scaling`` with ``rope_type`` set (the legacy ``type`` key is copied to it), checked against its type."""
    if rope_scaling is None:
        return None
    if not isinstance(rope_scaling, dict):
        raise ConfigError("rope_scaling must be a mapping", where=where, expected='a dict such as {"rope_type": "linear", "factor": 2.0}',
                          received=type(rope_scaling).__name__)
    scaling = dict(rope_scaling)
    if "type" in scaling:
        scaling["rope_type"] = scaling["type"]
    rope_type = scaling.get("rope_type", "default")
    rule = ROPE_SCALINGS.get(rope_type)
    if rule is None:
        logger.warning("%s: rope_scaling type %r is not one modelport knows (%s); kept as written", where, rope_type,
                       ", ".join(sorted(ROPE_SCALINGS)))
        return scaling
    received = set(scaling) - {"type", "rope_type"}
    missing = sorted(rule.required - received)
    if missing:
        raise ConfigError(f"rope_scaling of type {rope_type!r} lacks required keys", where=where,
                          expected=", ".join(sorted(rule.required)), received=", ".join(sorted(received)) or "none",
                          fix=f"Add {', '.join(missing)} to rope_scaling.")
    unknown = sorted(received - rule.required - rule.optional)
    if unknown:
        logger.warning("%s: rope_scaling of type %r has keys it does not use: %s", where, rope_type, ", ".join(unknown))
    factor = scaling.get("factor")
    if rule.checks_factor and (not isinstance(factor, float) or factor < 1):
        logger.warning("%s: rope_scaling's factor should be a float >= 1, got %r", where, factor)
    return scaling
