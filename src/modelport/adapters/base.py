"""The adapter protocol: what a framework adapter provides to the core.

An adapter is a small class that converts its framework's tensors to and from
the core's numpy arrays and declares what it can do. Its module must import
nothing heavy at import time: the registry loads adapter classes to match
objects by type name, and that must never import a framework.
"""

from __future__ import annotations

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
    #: what ``from_pretrained``'s dtype keywords do: keyword -> "parameters" (the weights are loaded in that dtype,
    #: as transformers 4.x's PyTorch ``dtype``/``torch_dtype``) or "computation" (the model computes in it and the
    #: weights keep the checkpoint's, as its Flax ``dtype``); a keyword not listed is refused with a TypeError
    dtype_keywords: Mapping[str, str] = field(default_factory=dict)
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
    #: weights the model computes under the config: canonical-name regex -> value kind
    #: (:func:`modelport.modeling.ties.computed_weights`); a source without them misses nothing
    computed: Mapping[str, str] = field(default_factory=dict)

    def with_config_facts(self, config: Any) -> ParameterTree:
        """This tree with the ties, model type and computed weights ``config`` implies for its model class."""
        from ..modeling.ties import computed_weights, tied_weights

        model_type = str(getattr(config, "model_type", ""))
        return replace(self, tied=tied_weights(self.model_class, config), model_type=model_type,
                       computed=computed_weights(model_type, config))


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
    #: names (``fnmatch`` patterns) the framework itself creates in the temporary folder and keeps, such as
    #: compiler caches; the conformance suite holds the adapter to account for anything else left there
    framework_temp_entries: ClassVar[tuple[str, ...]] = ()

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
        from ..modeling.save import lazy_weights
        from ..saving import save_checkpoint

        save_checkpoint(
            folder, lazy_weights(tensors, self), format=format, framework=self.checkpoint_framework or "pt", max_shard_size=max_shard_size
        )

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

    def architectures(self) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """The adapter's model classes: ``(PyTorch architecture name -> class, model_type -> base model class)``.

        Empty by default (an adapter without models); adapters with models override it, importing their
        model modules inside the method so that reading the adapter class stays free of the framework.
        """
        return {}, {}

    def model_class(self, config: Any) -> Any:
        """The adapter's model class for ``config.architectures`` (``TF``/``Flax`` prefixes ignored), or the base
        model of ``config.model_type``; an ``AdapterError`` names an unknown architecture."""
        from ..auto import model_class_for
        from ..errors import AdapterError

        architectures, base_models = self.architectures()
        if not architectures and not base_models:
            raise AdapterError(
                f"the {self.name} adapter has no models",
                where=f"{type(self).__name__}.model_class",
                fix="Use an adapter with reference models (capabilities.reference_models).",
            )
        return model_class_for(config, dict(architectures), dict(base_models), self.name)

    def parameter_tree(self, config: Any) -> ParameterTree:
        """The architecture's weights and shapes (with the ties ``config`` makes), without allocating weight memory."""
        from ..modeling.depth import tree_at_depth
        from ..modeling.tree_cache import cached_tree

        # A deep model costs what two layers cost: the rest repeat the second one's names (registered architectures).
        # A tree built before for this adapter code, framework version and config is read from disk, without
        # importing the framework.
        def build(shallow: Any) -> ParameterTree:
            return cached_tree(self, shallow, lambda: self.model_tree(self.model_class(shallow), shallow))

        tree = tree_at_depth(config, self.checkpoint_framework or "pt", build)
        return tree.with_config_facts(config)

    def model_tree(self, model_class: Any, config: Any) -> ParameterTree:
        """Names and shapes of ``model_class(config)``'s weights as this framework's checkpoints name them,
        built without weight memory (the torch meta device, ``jax.eval_shape``, Keras' deferred variables)."""
        from ..errors import AdapterError

        raise AdapterError(
            f"the {self.name} adapter cannot describe models",
            where=f"{type(self).__name__}.model_tree",
            fix="Override model_tree in an adapter with models.",
        )

    def file_writer(self, format: str) -> Any:
        """Writes one file of ``format`` for ``save_checkpoint`` when the core cannot (the torch adapter: ``.bin``),
        as ``writer(path, [(name, tensor), ...])``; None for formats the adapter does not write."""
        return None

    def load_model(self, folder: Any) -> Any:
        """The model of ``folder``'s architecture with its weights, ready for :meth:`run_model` (or of a GGUF file)."""
        from pathlib import Path

        from ..auto import AutoConfig

        path = Path(folder)
        if path.suffix == ".gguf" and path.is_file():  # the file carries its config
            config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
            return self.model_class(config).from_pretrained(path.parent, gguf_file=path.name, config=config)
        return self.model_class(AutoConfig.from_pretrained(folder)).from_pretrained(folder)

    def run_model(self, model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run inference on integer inputs (``input_ids``, ``attention_mask``); every tensor output as float32 numpy."""
        from ..errors import AdapterError

        raise AdapterError(
            f"the {self.name} adapter cannot run models",
            where=f"{type(self).__name__}.run_model",
            fix="Override run_model in an adapter with models.",
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
