"""modelport adapter for tinytensor: the worked example of docs/adapters.md.

An adapter converts its framework's tensors to and from the core's numpy
arrays, exactly, and declares what it can do as data. Everything else (formats,
sharding, the Hub, conversion) comes from the core.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.adapters import Adapter, Capabilities
from modelport.dtypes import DTYPES, canonical_dtype

__all__ = ["TinyTensorAdapter"]


class TinyTensorAdapter(Adapter):
    name = "tinytensor"
    distribution = "modelport-tinytensor"
    framework_module = "tinytensor"
    tensor_types = (("tinytensor", "Tensor"),)  # matched by (module, class name): the registry never imports tinytensor
    capabilities = Capabilities(exact_dtypes=tuple(DTYPES), native_formats=("safetensors",))

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return np.frombuffer(tensor.data, dtype=DTYPES[tensor.dtype].numpy).reshape(tensor.shape).copy()

    def from_numpy(self, array: np.ndarray) -> Any:
        from tinytensor import Tensor  # imported when first used, not when the registry reads this class

        array = np.ascontiguousarray(array)
        return Tensor(array.tobytes(), canonical_dtype(array.dtype), tuple(array.shape))

    def dtype_of(self, tensor: Any) -> str:
        return tensor.dtype
