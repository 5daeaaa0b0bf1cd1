"""torch tensors to and from the core's numpy arrays, exactly.

bfloat16 and float8 have no numpy type of their own, so their bytes are
reinterpreted through a same-sized integer type on both sides (torch ``view``
and numpy ``view`` into ml_dtypes); no value is ever rounded or upcast.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.adapters import Adapter, Capabilities, ParameterTree
from modelport.dtypes import DTYPES, canonical_dtype
from modelport.errors import AdapterError

__all__ = ["TorchAdapter", "torch_dtype"]

# canonical name -> torch dtype attribute name
_TORCH_NAMES = {
    "float64": "float64",
    "float32": "float32",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "float8_e4m3fn": "float8_e4m3fn",
    "float8_e5m2": "float8_e5m2",
    "int64": "int64",
    "int32": "int32",
    "int16": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}
# dtypes numpy cannot hand to torch directly: the same-sized integer to go through
_VIA_BITS = {"bfloat16": ("int16", np.int16), "float8_e4m3fn": ("uint8", np.uint8), "float8_e5m2": ("uint8", np.uint8)}


def _torch():  # type: ignore[no-untyped-def]
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the package depends on torch
        raise AdapterError("PyTorch is not installed", where="modelport_torch", fix="pip install torch") from exc
    return torch


def torch_dtype(name: Any):  # type: ignore[no-untyped-def]
    """The torch dtype for any dtype spelling modelport accepts."""
    return getattr(_torch(), _TORCH_NAMES[canonical_dtype(name)])


class TorchAdapter(Adapter):
    """PyTorch tensors (``torch.Tensor`` and ``nn.Parameter``)."""

    name = "torch"
    distribution = "modelport-torch"
    framework_module = "torch"
    tensor_types = (("torch", "Tensor"),)
    # torch's compiler cache: importing torch._dynamo creates it (building a model on the meta device does)
    framework_temp_entries = ("torchinductor_*",)
    capabilities = Capabilities(
        exact_dtypes=tuple(DTYPES),
        native_formats=("safetensors", "bin"),
        reference_models=True,
        hub=True,
        dtype_keywords={"dtype": "parameters", "torch_dtype": "parameters"},
    )
    checkpoint_framework = "pt"

    def architectures(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from modelport.models.decoders import add_decoder_classes

        from .models import DECODER_CLASSES, ENCODER_CLASSES, T5_CLASSES, VIT_CLASSES, GPT2LMHeadModel, GPT2Model

        encoders = {cls.__name__: cls for classes in ENCODER_CLASSES.values() for cls in classes.values()}
        by_name = {**encoders, **VIT_CLASSES, **T5_CLASSES, "GPT2Model": GPT2Model, "GPT2LMHeadModel": GPT2LMHeadModel}
        by_type = {**{t: classes["Model"] for t, classes in ENCODER_CLASSES.items()}, "gpt2": GPT2Model,
                   "vit": VIT_CLASSES["ViTModel"], "t5": T5_CLASSES["T5Model"]}
        return add_decoder_classes(by_name, by_type, DECODER_CLASSES, "")

    def model_tree(self, model_class: Any, config: Any) -> ParameterTree:
        """Names and shapes from a model built on the meta device: no weight memory."""
        from .meta import build_on_meta

        model = build_on_meta(model_class, config)
        shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
        return ParameterTree("pt", shapes, model_class.base_model_prefix, model_class.__name__)

    def run_model(self, model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = _torch()
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(_ids_as(v, np.int64)) for k, v in inputs.items()}, return_dict=True)
        return {k: v.float().numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}

    def file_writer(self, format: str) -> Any:
        if format != "bin":
            return None
        from .serialization import write_bin

        return write_bin

    def to_numpy(self, tensor: Any) -> np.ndarray:
        tensor = tensor.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        name = self.dtype_of(tensor)
        if name in _VIA_BITS:
            bits_name, _ = _VIA_BITS[name]
            return tensor.view(getattr(_torch(), bits_name)).numpy().view(DTYPES[name].numpy)
        return tensor.numpy()

    def from_numpy(self, array: np.ndarray) -> Any:
        torch = _torch()
        array = np.asarray(array)
        name = canonical_dtype(array.dtype)
        # torch.from_numpy warns on read-only buffers and refuses negative strides; reinterpreting the bits of a
        # dtype numpy lacks needs C order. A copy keeps the shape (np.ascontiguousarray would make 0-d into (1,)).
        if not array.flags.writeable or any(step < 0 for step in array.strides) or (
                name in _VIA_BITS and not array.flags.c_contiguous):
            array = array.copy(order="C")
        if name in _VIA_BITS:
            bits_name, bits_type = _VIA_BITS[name]
            return torch.from_numpy(array.view(bits_type)).view(torch_dtype(name))
        return torch.from_numpy(array)

    def dtype_of(self, tensor: Any) -> str:
        return canonical_dtype(str(tensor.dtype))


def _ids_as(array: np.ndarray, dtype: type) -> np.ndarray:
    """Integer inputs (token ids, masks) in the framework's index dtype; pixels, audio and features as they are."""
    array = np.asarray(array)
    return array.astype(dtype) if array.dtype.kind in "iub" else array
