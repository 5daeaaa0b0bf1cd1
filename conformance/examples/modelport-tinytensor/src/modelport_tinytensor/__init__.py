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
from modelport.frameworks import CheckpointFramework

__all__ = ["TinyTensorAdapter"]


class TinyTensorAdapter(Adapter):
    name = "tinytensor"
    distribution = "modelport-tinytensor"
    framework_module = "tinytensor"
    tensor_types = (("tinytensor", "Tensor"),)  # matched by (module, class name): the registry never imports tinytensor
    capabilities = Capabilities(exact_dtypes=tuple(DTYPES), native_formats=("safetensors",))
    # A checkpoint framework of its own: safetensors files tagged "tinytensor", named like PyTorch's. From this
    # record on, `modelport convert SRC OUT --to tinytensor` works, and tinytensor checkpoints convert to the rest.
    checkpoint_framework = "tinytensor"
    checkpoint_facts = CheckpointFramework("tinytensor", adapter="tinytensor", native_format="safetensors",
                                           load_preference=("safetensors",), naming="pt")

    def architectures(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The architectures it can describe (what the converter plans against)."""
        from .models import TinyBertModel

        return {"BertModel": TinyBertModel}, {"bert": TinyBertModel}

    def model_tree(self, model_class: Any, config: Any) -> Any:
        return model_class.parameter_tree(config)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return np.frombuffer(tensor.data, dtype=DTYPES[tensor.dtype].numpy).reshape(tensor.shape).copy()

    def from_numpy(self, array: np.ndarray) -> Any:
        from tinytensor import Tensor  # imported when first used, not when the registry reads this class

        array = np.asarray(array)  # not np.ascontiguousarray: it makes 0-d arrays (1,); tobytes() reads any view in C order
        return Tensor(array.tobytes(), canonical_dtype(array.dtype), tuple(array.shape))

    def dtype_of(self, tensor: Any) -> str:
        return tensor.dtype
