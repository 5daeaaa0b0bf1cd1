"""Deliberately broken adapters: the conformance suite must catch each one (see test_suite_has_teeth.py).

Each is the real PyTorch adapter with one fault a careless author could make, so everything else about it
passes. ``BROKEN`` says, for each, which suite test must fail and with what words; when the suite misses a
real bug, add a toy for it here.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from modelport import adapters
from modelport.checkpoint import Checkpoint
from modelport.errors import ModelportError
from modelport_torch.adapter import TorchAdapter


class Expectation(NamedTuple):
    kind: str  # the kind of defect, as the conformance issue lists them
    test: str  # the suite test function that must fail
    failing: str  # a test id that must fail (or error)
    message: str  # words the failure must contain


def _with_from_pretrained(model_class: type, wrapper: Any) -> type:
    """``model_class`` with its ``from_pretrained`` replaced by ``wrapper(super_from_pretrained, cls, folder, **kw)``."""
    base = model_class.from_pretrained.__func__

    def from_pretrained(cls: type, folder: Any, *args: Any, **kwargs: Any) -> Any:
        return wrapper(lambda *a, **k: base(cls, *a, **k), cls, folder, *args, **kwargs)

    namespace = {"from_pretrained": classmethod(from_pretrained), "__module__": model_class.__module__}
    return type(model_class.__name__, (model_class,), namespace)


class _LoadingToy(TorchAdapter):
    """A toy whose models' ``from_pretrained`` goes through :meth:`load`."""

    def model_class(self, config: Any) -> Any:
        return _with_from_pretrained(super().model_class(config), self.load)

    def load(self, load: Any, cls: type, folder: Any, *args: Any, **kwargs: Any) -> Any:
        return load(folder, *args, **kwargs)


# -- values compared with themselves -------------------------------------------------------------------
class UpcastsBfloat16(TorchAdapter):
    """Hands bfloat16 tensors to the core as float32 (a silent upcast)."""

    name = "toy-upcast"

    def to_numpy(self, tensor: Any) -> np.ndarray:
        array = super().to_numpy(tensor)
        return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


class ReusesItsBuffer(TorchAdapter):
    """Returns every ``to_numpy`` result in one buffer per dtype and shape, overwritten by the next call."""

    name = "toy-reused-buffer"

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def to_numpy(self, tensor: Any) -> np.ndarray:
        array = super().to_numpy(tensor)
        buffer = self._buffers.setdefault((array.dtype.str, array.shape), np.empty_like(array))
        buffer[...] = array
        return buffer


class NarrowsFloat64OnLoad(TorchAdapter):
    """Reads float64 checkpoint tensors through float32, keeping the float64 dtype."""

    name = "toy-narrow"

    def load_state(self, folder: Any) -> dict[str, Any]:
        torch = __import__("torch")
        return {k: v.to(torch.float32).to(torch.float64) if v.dtype == torch.float64 else v for k, v in super().load_state(folder).items()}


class DropsATensor(TorchAdapter):
    """Loses the last tensor when saving."""

    name = "toy-drop"

    def save_state(self, tensors: dict[str, Any], folder: Any, **kwargs: Any) -> None:
        super().save_state(dict(list(tensors.items())[:-1]), folder, **kwargs)


class IgnoresMaxShardSize(TorchAdapter):
    """Writes one file whatever limit it is given."""

    name = "toy-shards"

    def save_state(self, tensors: dict[str, Any], folder: Any, *, format: str = "safetensors", max_shard_size: Any = "5GB") -> None:
        super().save_state(tensors, folder, format=format, max_shard_size="100GB")


# -- narrow inputs ----------------------------------------------------------------------------------
class FlattensScalars(TorchAdapter):
    """Passes arrays through ``np.ascontiguousarray``, which turns 0-d arrays into shape (1,)."""

    name = "toy-scalar"

    def from_numpy(self, array: np.ndarray) -> Any:
        return super().from_numpy(np.ascontiguousarray(array))


class ReadsStorageOrder(TorchAdapter):
    """Reads an array's bytes in storage order, so a transposed (Fortran-ordered) view comes in scrambled."""

    name = "toy-storage-order"

    def from_numpy(self, array: np.ndarray) -> Any:
        array = np.asarray(array)
        return super().from_numpy(np.frombuffer(array.tobytes(order="A"), dtype=array.dtype).reshape(array.shape))


# -- dtypes --------------------------------------------------------------------------------------------
class IgnoresTheDtypeKeyword(_LoadingToy):
    """Accepts ``dtype=`` and ``torch_dtype=`` and loads float32 anyway."""

    name = "toy-ignores-dtype"

    def load(self, load: Any, cls: type, folder: Any, *args: Any, dtype: Any = None, torch_dtype: Any = None, **kwargs: Any) -> Any:
        return load(folder, *args, **kwargs)


class KeepsFloat16(_LoadingToy):
    """Keeps float16 checkpoints in float16, although it declares that half precision loads as float32."""

    name = "toy-keeps-float16"

    def load(self, load: Any, cls: type, folder: Any, *args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(ModelportError):
            ckpt = Checkpoint.open(folder)
            if "dtype" not in kwargs and any(ckpt.info(n).dtype == "float16" for n in ckpt):
                kwargs["dtype"] = "float16"
        return load(folder, *args, **kwargs)


# -- models ----------------------------------------------------------------------------------------------
class NeverTies(_LoadingToy):
    """Gives tied output heads fresh random weights instead of the input embeddings (and reports nothing)."""

    name = "toy-never-ties"

    def load(self, load: Any, cls: type, folder: Any, *args: Any, **kwargs: Any) -> Any:
        torch = __import__("torch")
        result = load(folder, *args, **kwargs)
        model = result[0] if isinstance(result, tuple) else result
        head = model.get_output_embeddings()
        if head is not None and head.weight is model.get_input_embeddings().weight:
            head.weight = torch.nn.Parameter(torch.randn_like(head.weight) * 0.1)
        return result


class TransposesAKernel(TorchAdapter):
    """Loads models with one square kernel transposed (a layout bug that shapes cannot reveal)."""

    name = "toy-transpose"

    def load_model(self, folder: Any) -> Any:
        model = super().load_model(folder)
        weight = model.encoder.layer[0].attention.self.query.weight
        weight.data = weight.data.T.contiguous()
        return model


# -- bad inputs ------------------------------------------------------------------------------------------
class NamesOnlyTheFolder(_LoadingToy):
    """Replaces every loading error with one that names the folder only."""

    name = "toy-names-folder"

    def load(self, load: Any, cls: type, folder: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return load(folder, *args, **kwargs)
        except ModelportError:
            raise ModelportError("could not load the checkpoint", where=folder) from None


class FallsBackQuietly(_LoadingToy):
    """When the preferred file is damaged, loads whatever other weights the folder holds."""

    name = "toy-falls-back"

    def load(self, load: Any, cls: type, folder: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return load(folder, *args, **kwargs)
        except ModelportError as exc:
            folder = Path(folder)
            if not folder.is_dir():
                raise
            with tempfile.TemporaryDirectory() as other:
                for path in folder.iterdir():
                    if path.is_file() and path.name not in str(exc):
                        shutil.copy(path, other)
                return load(other, *args, **kwargs)


# -- hostile pickles -----------------------------------------------------------------------------------
class _FrameworkUnpickler(pickle.Unpickler):
    """An allow-list that trusts anything from the frameworks' own namespaces."""

    def find_class(self, module: str, name: str) -> Any:
        if module.partition(".")[0] in ("torch", "numpy", "collections", "tensorflow", "jax"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        return None


class TrustsFrameworkInternals(_LoadingToy):
    """Peeks into ``.bin`` files (to learn their dtype) with an allow-list that admits framework internals."""

    name = "toy-trusts-framework"

    def load(self, load: Any, cls: type, folder: Any, *args: Any, **kwargs: Any) -> Any:
        for path in Path(folder).glob("*.bin") if Path(folder).is_dir() else ():
            with contextlib.suppress(Exception):
                with zipfile.ZipFile(path) as archive:
                    pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                    _FrameworkUnpickler(archive.open(pkl)).load()
        return load(folder, *args, **kwargs)


# -- hygiene ---------------------------------------------------------------------------------------------
class LeavesTemporaryFiles(TorchAdapter):
    """Saves through a temporary folder that it never deletes."""

    name = "toy-leaves-temp"

    def save_state(self, tensors: dict[str, Any], folder: Any, **kwargs: Any) -> None:
        staging = tempfile.mkdtemp(prefix="toy-staging-")
        super().save_state(tensors, staging, **kwargs)
        shutil.copytree(staging, folder, dirs_exist_ok=True)


# -- a good wrapper: its tensors subclass torch's, so two adapters claim them ---------------------------
def _wrapped_tensor_class() -> type:
    torch = __import__("torch")
    return type("WrappedTensor", (torch.Tensor,), {"__module__": __name__})


class WrapsTorch(TorchAdapter):
    """A correct adapter of a framework built on torch; the registry must pick it for its own tensors
    (its name sorts after "torch", so name order would give them to the torch adapter)."""

    name = "toy-wrapper"
    tensor_types = ((__name__, "WrappedTensor"),)
    _class: type | None = None

    def from_numpy(self, array: np.ndarray) -> Any:
        if WrapsTorch._class is None:
            WrapsTorch._class = _wrapped_tensor_class()
        return super().from_numpy(array).as_subclass(WrapsTorch._class)


BROKEN: dict[type, Expectation] = {
    UpcastsBfloat16: Expectation("values", "test_tensor_round_trip_is_exact", "[toy-upcast-bfloat16-specials]",
                                 "came back as float32"),
    ReusesItsBuffer: Expectation("values", "test_results_stay_valid_after_later_conversions", "[toy-reused-buffer-float32]",
                                 "an earlier result changed when later tensors were converted"),
    NarrowsFloat64OnLoad: Expectation("values", "test_save_and_load_round_trip_is_exact", "[toy-narrow-safetensors-single]",
                                      "layer_0/float64's values changed"),
    DropsATensor: Expectation("values", "test_save_and_load_round_trip_is_exact", "[toy-drop-safetensors-single]",
                              "tensors missing after a safetensors save and load: ['layer_big/float32']"),
    IgnoresMaxShardSize: Expectation("values", "test_sharded_saves_keep_the_limit_and_a_valid_index",
                                     "[toy-shards-safetensors-sharded]", "wrote no index"),
    FlattensScalars: Expectation("inputs", "test_tensor_round_trip_is_exact", "[toy-scalar-float32-0-d]", "came back as float32 (1,)"),
    ReadsStorageOrder: Expectation("inputs", "test_tensor_round_trip_is_exact", "[toy-storage-order-float32-transpose]",
                                   "with other values"),
    IgnoresTheDtypeKeyword: Expectation("dtypes", "test_a_dtype_keyword_does_what_the_adapter_declares",
                                        "[toy-ignores-dtype-float16-torch_dtype]", "is declared to set the weights' dtype"),
    KeepsFloat16: Expectation("dtypes", "test_a_half_precision_checkpoint_loads_by_the_declared_dtype_rule",
                              "[toy-keeps-float16-float16]", "declares default_load_dtype='float32', but float16 weights"),
    NeverTies: Expectation("models", "test_a_reference_model_matches_transformers_before_and_after_saving",
                           "[toy-never-ties-gpt2-lm]", "GPT2LMHeadModel (gpt2-lm) differs from transformers"),
    TransposesAKernel: Expectation("models", "test_the_same_checkpoint_gives_the_same_outputs", "[toy-transpose-tf]",
                                   "toy-transpose and tf differ on last_hidden_state"),
    NamesOnlyTheFolder: Expectation("bad inputs", "test_a_malformed_checkpoint_is_a_modelport_error_naming_the_file",
                                    "[toy-names-folder-safetensors-not-json]", "the error does not name the bad file"),
    FallsBackQuietly: Expectation("bad inputs", "test_a_damaged_preferred_file_is_an_error_even_beside_a_good_one",
                                  "[toy-falls-back]", "DID NOT RAISE"),
    TrustsFrameworkInternals: Expectation("hostile pickles", "test_every_malicious_file_is_refused_by_from_pretrained",
                                          "[toy-trusts-framework]", "a checkpoint ran code"),
    LeavesTemporaryFiles: Expectation("hygiene", "test_save_and_load_round_trip_is_exact", "[toy-leaves-temp-safetensors-single]",
                                      "toy-leaves-temp does not clean up after itself"),
}


def pytest_configure(config: Any) -> None:  # loaded with -p toy_adapters: register every toy
    for toy in (*BROKEN, WrapsTorch):
        adapters.register(toy)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Each toy runs only the suite test that must catch it (the rest of the suite is the torch adapter's)."""
    targets = {toy.name: expected.test for toy, expected in BROKEN.items()}
    keep = []
    for item in items:
        spec = getattr(item, "callspec", None)
        toy = spec.params.get("adapter_name") if spec else None
        if toy not in targets or item.originalname == targets[toy]:
            keep.append(item)
    items[:] = keep
