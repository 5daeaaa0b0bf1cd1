"""The adapter protocol: what a framework adapter provides to the core.

An adapter is a small class that converts its framework's tensors to and from
the core's numpy arrays and declares what it can do. Its module must import
nothing heavy at import time: the registry loads adapter classes to match
objects by type name, and that must never import a framework.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from ..dtypes import canonical_dtype
from ..frameworks import CheckpointFramework

__all__ = ["Adapter", "Capabilities", "ParameterTree"]


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do, declared as data.

    Tests (and the conformance suite) skip by these flags, never by adapter name.
    """

    #: canonical dtype names whose tensors convert to numpy and back bit-exact
    exact_dtypes: tuple[str, ...] = ()
    #: checkpoint formats the adapter writes itself ("safetensors", "bin", "h5", "msgpack")
    native_formats: tuple[str, ...] = ()
    #: whether the adapter ships reference models (BERT, GPT-2)
    reference_models: bool = False
    #: whether the adapter's models can push to and load from the Hub
    hub: bool = False
    #: the dtype ``from_pretrained`` gives stored half-precision (bfloat16, float16) weights when no dtype is
    #: asked for: "float32" (widened exactly, as transformers 4.x's PyTorch and TF classes do) or "stored"
    #: (kept as stored, as transformers 4.x's Flax classes do, with a warning)
    default_load_dtype: str = "float32"
    #: free-form extra flags for third-party adapters
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParameterTree:
    """An architecture's weights as its framework's checkpoints name them, with shapes, known without allocating them.

    The converter takes each weight's layer kind (and so its layout) from here.
    """

    #: whose names these are: "pt", "tf" or "flax"
    framework: str
    #: checkpoint name -> shape, in the framework's layout
    shapes: dict[str, tuple[int, ...]]
    #: the base model's attribute (``bert``): checkpoints of the bare model omit it
    base_model_prefix: str = ""
    #: the model class the tree was built from
    model_class: str = ""
    #: weights that copy another under the config: derived canonical name -> the canonical name it copies
    #: (:func:`modelport.modeling.ties.tied_weights`); filled in by :meth:`Adapter.parameter_tree`
    tied: Mapping[str, str] = field(default_factory=dict)
    #: the config's ``model_type``, whose computed buffers a checkpoint may store
    model_type: str = ""

    def with_config_facts(self, config: Any) -> ParameterTree:
        """This tree with the ties and model type ``config`` implies for its model class."""
        from ..modeling.ties import tied_weights

        return replace(self, tied=tied_weights(self.model_class, config), model_type=str(getattr(config, "model_type", "")))


class Adapter:
    """Base class of framework adapters.

    Subclasses set the class attributes and implement the tensor methods.
    ``tensor_types`` lists ``(top-level module, class name)`` pairs matched
    against every class in an object's MRO; the registry only looks at them
    once the framework's module is already imported, so matching never
    imports a framework.
    """

    name: ClassVar[str] = ""
    #: the pip distribution that provides this adapter (for install hints)
    distribution: ClassVar[str] = ""
    #: the framework's import name, used for its version and availability
    framework_module: ClassVar[str] = ""
    tensor_types: ClassVar[tuple[tuple[str, str], ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()

    # -- framework facts -------------------------------------------------
    @classmethod
    def framework_available(cls) -> bool:
        """Whether the framework can be imported (checked without importing it)."""
        return importlib.util.find_spec(cls.framework_module) is not None

    @classmethod
    def framework_version(cls) -> str | None:
        """The installed framework's version, read from package metadata."""
        for dist in importlib.metadata.packages_distributions().get(cls.framework_module, []):
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:  # pragma: no cover - racy installs
                continue
        return None

    @classmethod
    def handles_type(cls, tp: type) -> bool:
        """Whether objects of type ``tp`` are this adapter's tensors."""
        for klass in tp.__mro__:
            root = (klass.__module__ or "").partition(".")[0]
            if (root, klass.__name__) in cls.tensor_types:
                return True
        return False

    # -- tensors ---------------------------------------------------------
    def to_numpy(self, tensor: Any) -> np.ndarray:
        """Return the tensor's values as a numpy array of the same dtype, exactly."""
        raise NotImplementedError

    def from_numpy(self, array: np.ndarray) -> Any:
        """Return a framework tensor holding exactly ``array``'s values and dtype."""
        raise NotImplementedError

    def dtype_of(self, tensor: Any) -> str:
        """The canonical dtype name of a framework tensor."""
        return canonical_dtype(tensor.dtype)

    # -- checkpoints of framework tensors -----------------------------------
    def save_state(self, tensors: dict[str, Any], folder: Any, *, format: str = "safetensors",
                   max_shard_size: int | str = "5GB") -> None:
        """Write ``{name: framework tensor}`` as a checkpoint in ``format`` (safetensors or a native format), sharded.

        Tensors are converted one at a time as the writer asks for them; names are kept as given.
        """
        from ..formats.base import LazyTensor
        from ..saving import save_checkpoint

        items = [(name, LazyTensor(self.dtype_of(t), tuple(int(d) for d in t.shape), lambda t=t: self.to_numpy(t)))
                 for name, t in tensors.items()]
        save_checkpoint(folder, items, format=format, framework=self.checkpoint_framework or "pt", max_shard_size=max_shard_size)

    def load_state(self, folder: Any) -> dict[str, Any]:
        """Every tensor of a checkpoint folder as this framework's tensors, by the names the file uses."""
        from ..checkpoint import Checkpoint

        ckpt = Checkpoint.open(folder)
        return {name: self.from_numpy(ckpt[name]) for name in ckpt}

    # -- models (adapters with reference models) ------------------------------
    #: whose tensor names the adapter's checkpoints use: a tag of :mod:`modelport.frameworks` ("pt", "tf",
    #: "flax", or the tag of :attr:`checkpoint_facts`)
    checkpoint_framework: ClassVar[str] = ""
    #: a checkpoint framework of the adapter's own (third-party adapters): its tag, native format, load order
    #: and naming rules; the converter, the CLI and the Hub resolver then know it (``modelport convert --to TAG``)
    checkpoint_facts: ClassVar[CheckpointFramework | None] = None

    #: module with ``ARCHITECTURES``, ``BASE_MODELS``, ``parameter_tree(model_class, config)`` and
    #: ``run_model`` (optionally ``model_class`` and ``load_model``), imported on first use
    #: (empty: the adapter has no models)
    models_module: ClassVar[str] = ""

    def _models(self, what: str) -> Any:
        from ..errors import AdapterError

        if not self.models_module:
            raise AdapterError(f"the {self.name} adapter has no models", where=f"{type(self).__name__}.{what}",
                               fix="Use an adapter with reference models (capabilities.reference_models).")
        return getattr(importlib.import_module(self.models_module), what)

    def model_class(self, config: Any) -> type:
        """The adapter's model class for ``config.architectures`` (an ``AdapterError`` names an unknown one).

        By default from the models module's ``ARCHITECTURES`` (PyTorch architecture name -> class) and
        ``BASE_MODELS`` (model_type -> base class); a ``model_class`` function there replaces it.
        """
        module = importlib.import_module(self.models_module) if self.models_module else None
        if module is not None and hasattr(module, "model_class"):
            return module.model_class(config)
        from ..auto import model_class_for

        return model_class_for(config, self._models("ARCHITECTURES"), self._models("BASE_MODELS"), self.name)

    def parameter_tree(self, config: Any) -> ParameterTree:
        """The architecture's weights and shapes, built from ``config`` without allocating weight memory."""
        return self._models("parameter_tree")(self.model_class(config), config).with_config_facts(config)

    def file_writer(self, format: str) -> Any:
        """Writes one file of ``format`` for ``save_checkpoint`` when the core cannot (the torch adapter: ``.bin``),
        as ``writer(path, [(name, tensor), ...])``; None for formats the adapter does not write."""
        return None

    def load_model(self, folder: Any) -> Any:
        """The model of ``folder``'s architecture with its weights, ready for :meth:`run_model`.

        By default ``model_class(config).from_pretrained(folder)``; a ``load_model`` in the models module replaces it.
        """
        module = importlib.import_module(self.models_module) if self.models_module else None
        if module is not None and hasattr(module, "load_model"):
            return module.load_model(folder)
        from ..auto import AutoConfig

        return self.model_class(AutoConfig.from_pretrained(folder)).from_pretrained(folder)

    def run_model(self, model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run inference on integer inputs (``input_ids``, ``attention_mask``); every tensor output as float32 numpy."""
        return self._models("run_model")(model, inputs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
