"""TensorFlow tensors and variables to and from the core's numpy arrays, exactly.

TensorFlow's numpy bridge already uses ml_dtypes for bfloat16 and float8, so
values pass through unchanged in both directions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.adapters import Adapter, Capabilities, ParameterTree
from modelport.dtypes import DTYPES, canonical_dtype
from modelport.errors import AdapterError

__all__ = ["TFAdapter", "tf_dtype"]


def _tf():  # type: ignore[no-untyped-def]
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise AdapterError(
            "TensorFlow is not installed",
            where="modelport_tf",
            fix="Install it with the adapter: pip install 'modelport-tf[cpu]' (or [gpu]).",
        ) from exc
    return tf


def tf_dtype(name: Any):  # type: ignore[no-untyped-def]
    """The ``tf.DType`` for any dtype spelling modelport accepts."""
    return _tf().as_dtype(DTYPES[canonical_dtype(name)].numpy)


class TFAdapter(Adapter):
    """TensorFlow tensors, ``tf.Variable`` and Keras 3 variables."""

    name = "tf"
    distribution = "modelport-tf"
    framework_module = "tensorflow"
    tensor_types = (("tensorflow", "Tensor"), ("tensorflow", "Variable"), ("keras", "Variable"))
    capabilities = Capabilities(
        exact_dtypes=tuple(DTYPES),
        native_formats=("safetensors", "h5"),
        reference_models=True,
        hub=True,
        dtype_keywords={"dtype": "parameters"},  # the Keras dtype policy: variables (and computation) in that dtype
    )
    checkpoint_framework = "tf"

    def architectures(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from modelport.models.decoders import add_decoder_classes

        from .models import DECODER_CLASSES, ENCODER_CLASSES, T5_CLASSES, VIT_CLASSES, TFGPT2LMHeadModel, TFGPT2Model

        encoders = {cls.__name__.removeprefix("TF"): cls for classes in ENCODER_CLASSES.values() for cls in classes.values()}
        by_name = {**encoders, **VIT_CLASSES, **T5_CLASSES, "GPT2Model": TFGPT2Model, "GPT2LMHeadModel": TFGPT2LMHeadModel}
        by_type = {**{t: classes["Model"] for t, classes in ENCODER_CLASSES.items()}, "gpt2": TFGPT2Model,
                   "vit": VIT_CLASSES["ViTModel"], "t5": T5_CLASSES["T5Model"]}
        return add_decoder_classes(by_name, by_type, DECODER_CLASSES, "TF")

    def model_tree(self, model_class: Any, config: Any) -> ParameterTree:
        """Names and shapes from a model built with Keras' deferred variables: no weight memory."""
        from .layers import deferred_variables, forget_deferred, named_variables

        model = model_class(config)
        with deferred_variables():
            model.build_variables()
        variables = named_variables(model)
        forget_deferred(variables.values())
        return ParameterTree("tf", {name: tuple(int(d) for d in v.shape) for name, v in variables.items()},
                             model_class.base_model_prefix, model_class.__name__)

    def run_model(self, model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = model({k: _ids_as(v, np.int32) for k, v in inputs.items()}, training=False, return_dict=True)
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items() if hasattr(v, "shape")}

    def to_numpy(self, tensor: Any) -> np.ndarray:
        if hasattr(tensor, "value") and not hasattr(tensor, "numpy"):  # Keras variables
            tensor = tensor.value
        return np.asarray(tensor.numpy())

    def from_numpy(self, array: np.ndarray) -> Any:
        array = np.asarray(array)
        return _tf().convert_to_tensor(array, dtype=tf_dtype(array.dtype))

    def dtype_of(self, tensor: Any) -> str:
        dtype = tensor.dtype
        return canonical_dtype(getattr(dtype, "name", dtype))


def _ids_as(array: np.ndarray, dtype: type) -> np.ndarray:
    """Integer inputs (token ids, masks) in the framework's index dtype; pixels, audio and features as they are."""
    array = np.asarray(array)
    return array.astype(dtype) if array.dtype.kind in "iub" else array
