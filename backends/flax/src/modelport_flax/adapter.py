"""JAX arrays to and from the core's numpy arrays, exactly.

JAX uses ml_dtypes for bfloat16 and float8, like the core, so values pass
through unchanged. Arrays are placed on the default device (the CPU here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.adapters import Adapter, Capabilities, ParameterTree
from modelport.dtypes import DTYPES
from modelport.errors import AdapterError

__all__ = ["FlaxAdapter"]


def _jnp():  # type: ignore[no-untyped-def]
    try:
        import jax.numpy as jnp
    except ImportError as exc:  # pragma: no cover - the package depends on jax
        raise AdapterError("JAX is not installed", where="modelport_flax", fix="pip install jax flax") from exc
    return jnp


class FlaxAdapter(Adapter):
    """JAX arrays (``jax.Array``, including tracers' concrete values)."""

    name = "flax"
    distribution = "modelport-flax"
    framework_module = "jax"
    tensor_types = (("jaxlib", "ArrayImpl"), ("jax", "Array"), ("jax", "Tracer"))
    capabilities = Capabilities(
        # 64-bit types need jax_enable_x64, which is off by default (and process-wide)
        exact_dtypes=tuple(n for n in DTYPES if n not in ("float64", "int64")),
        native_formats=("safetensors", "msgpack"),
        reference_models=True,
        hub=True,
        dtype_keywords={"dtype": "computation"},
        default_load_dtype="stored",  # transformers 4.x's Flax classes keep bfloat16 params (and warn)
    )
    checkpoint_framework = "flax"

    def architectures(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from modelport.models.decoders import add_decoder_classes

        from .models import DECODER_CLASSES, ENCODER_CLASSES, T5_CLASSES, VIT_CLASSES, FlaxGPT2LMHeadModel, FlaxGPT2Model

        encoders = {cls.__name__.removeprefix("Flax"): cls for classes in ENCODER_CLASSES.values() for cls in classes.values()}
        by_name = {**encoders, **VIT_CLASSES, **T5_CLASSES, "GPT2Model": FlaxGPT2Model, "GPT2LMHeadModel": FlaxGPT2LMHeadModel}
        by_type = {**{t: classes["Model"] for t, classes in ENCODER_CLASSES.items()}, "gpt2": FlaxGPT2Model,
                   "vit": VIT_CLASSES["ViTModel"], "t5": T5_CLASSES["T5Model"]}
        return add_decoder_classes(by_name, by_type, DECODER_CLASSES, "Flax")

    def model_tree(self, model_class: Any, config: Any) -> ParameterTree:
        """Names and shapes from ``jax.eval_shape``: no weight memory."""
        from flax.traverse_util import flatten_dict

        tree = model_class(config, _do_init=False).params_shape_tree
        shapes = {name: tuple(leaf.shape) for name, leaf in flatten_dict(tree, sep="/").items()}
        return ParameterTree("flax", shapes, model_class.base_model_prefix, model_class.__name__)

    def run_model(self, model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = model(**{k: _ids_as(v, np.int32) for k, v in inputs.items()}, return_dict=True)
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items() if hasattr(v, "shape")}

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return np.asarray(tensor)

    def from_numpy(self, array: np.ndarray) -> Any:
        array = np.asarray(array)
        result = _jnp().asarray(array)
        if result.dtype != array.dtype:
            raise AdapterError(
                "JAX cannot hold this dtype exactly",
                where="modelport_flax.from_numpy",
                expected=str(array.dtype),
                received=str(result.dtype),
                fix="Enable 64-bit types with jax.config.update('jax_enable_x64', True).",
            )
        return result


def _ids_as(array: np.ndarray, dtype: type) -> np.ndarray:
    """Integer inputs (token ids, masks) in the framework's index dtype; pixels, audio and features as they are."""
    array = np.asarray(array)
    return array.astype(dtype) if array.dtype.kind in "iub" else array
