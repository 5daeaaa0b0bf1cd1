"""The numpy reference adapter, shipped with the core.

It is the smallest complete adapter: the core's own arrays are numpy arrays,
so conversion is the identity (plus exact dtype handling). Third-party adapter
authors can read it as a template.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import DTYPES
from .base import Adapter, Capabilities

__all__ = ["NumpyAdapter"]


class NumpyAdapter(Adapter):
    """numpy arrays (bfloat16 and float8 through ml_dtypes)."""

    name = "numpy"
    distribution = "modelport"
    framework_module = "numpy"
    tensor_types = (("numpy", "ndarray"), ("numpy", "generic"))
    capabilities = Capabilities(
        exact_dtypes=tuple(DTYPES),
        native_formats=("safetensors",),
        reference_models=False,
        hub=False,
    )

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return np.asarray(tensor)

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)
