"""Activation functions by the names transformers 4.x configs use, written once for every framework.

Each function is a formula over a few framework operations (:class:`Ops`); an
adapter passes its framework's and gets the whole table, so the names a config
may carry (:data:`ACTIVATIONS`, checked when a config is read) are exactly the
names every adapter can build. The formulas follow transformers 4.57.6's
``activations.py`` (``gelu_new``'s cubic, ``quick_gelu``'s 1.702, ``laplace``'s
constants); ``NUMPY_OPS`` gives the reference the adapters are tested against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Ops", "ACTIVATIONS", "ActivationTable", "activation_table", "NUMPY_OPS"]


@dataclass(frozen=True)
class Ops:
    """The framework operations the formulas need (tensors support ``+ - * / **`` with Python numbers)."""

    gelu: Callable[[Any, bool], Any]  # (x, approximate with tanh)
    tanh: Callable[[Any], Any]
    sigmoid: Callable[[Any], Any]
    softplus: Callable[[Any], Any]
    erf: Callable[[Any], Any]
    relu: Callable[[Any], Any]
    minimum: Callable[[Any, float], Any]  # elementwise against a number
    maximum: Callable[[Any, Any], Any]  # elementwise against a number or a tensor


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class ActivationTable(dict[str, Callable[[Any], Any]]):
    """Activations by name; an unknown name is a :class:`~modelport.errors.ConfigError` listing the known ones."""

    def __missing__(self, name: str) -> Callable[[Any], Any]:
        from .errors import ConfigError

        raise ConfigError("unknown activation", where="hidden_act / activation_function", expected=", ".join(sorted(self)),
                          received=name)


def activation_table(ops: Ops) -> ActivationTable:
    """Every activation transformers 4.x configs name, built from ``ops``."""

    def tanh_gelu(x: Any) -> Any:  # transformers' NewGELU / AccurateGELU: the explicit cubic
        return 0.5 * x * (1.0 + ops.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))

    return ActivationTable({
        "gelu": lambda x: ops.gelu(x, False),
        "gelu_python": lambda x: ops.gelu(x, False),
        "gelu_new": tanh_gelu,
        "gelu_accurate": tanh_gelu,
        "gelu_pytorch_tanh": lambda x: ops.gelu(x, True),
        "gelu_fast": lambda x: 0.5 * x * (1.0 + ops.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
        "gelu_10": lambda x: ops.minimum(ops.maximum(ops.gelu(x, False), -10.0), 10.0),
        "quick_gelu": lambda x: x * ops.sigmoid(1.702 * x),
        "laplace": lambda x: 0.5 * (1.0 + ops.erf((x - 0.707107) / (0.282095 * math.sqrt(2.0)))),
        "relu": ops.relu,
        "relu2": lambda x: ops.relu(x) ** 2,
        "relu6": lambda x: ops.minimum(ops.relu(x), 6.0),
        "leaky_relu": lambda x: ops.maximum(x, 0.01 * x),
        "silu": lambda x: x * ops.sigmoid(x),
        "swish": lambda x: x * ops.sigmoid(x),
        "mish": lambda x: x * ops.tanh(ops.softplus(x)),
        "sigmoid": ops.sigmoid,
        "tanh": ops.tanh,
        "linear": lambda x: x,
    })


def _np_gelu(x: np.ndarray, approximate: bool) -> np.ndarray:
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


#: float64 numpy versions of the operations: the reference every adapter's table is tested against
NUMPY_OPS = Ops(
    gelu=_np_gelu, tanh=np.tanh, sigmoid=lambda x: 1.0 / (1.0 + np.exp(-x)), softplus=lambda x: np.logaddexp(0.0, x),
    erf=np.vectorize(math.erf), relu=lambda x: np.maximum(x, 0.0), minimum=np.minimum, maximum=np.maximum,
)

#: the names a config's ``hidden_act`` / ``activation_function`` may hold
ACTIVATIONS = frozenset(activation_table(NUMPY_OPS))
