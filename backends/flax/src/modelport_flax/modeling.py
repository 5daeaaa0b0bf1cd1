"""``FlaxPreTrainedModel``: transformers 4.x's Flax API on top of the core.

Parameters are a plain nested dict (a pytree). Loading builds the target's
parameter tree with ``jax.eval_shape`` (no memory), then fills it tensor by
tensor from a ``Checkpoint`` of any format: every name goes to the canonical
(PyTorch) form with the core's rules and back to this tree's paths, so
PyTorch, TF and Flax checkpoints, sharded or not, all load the same way.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from modelport import PretrainedConfig
from modelport.activations import Ops, activation_table
from modelport.adapters import ParameterTree
from modelport.errors import ConfigError, ConversionError
from modelport.generation import GenerationConfig
from modelport.hub import PushToHubMixin
from modelport.modeling.loading import load_weights
from modelport.modeling.resolve import resolve_pretrained
from modelport.modeling.save import lazy_weights, save_pretrained
from modelport.outputs import ModelOutput, accepted_output_flags, call_with_output_conventions

from .adapter import FlaxAdapter

__all__ = ["FlaxPreTrainedModel", "activation", "attention_bias", "load_flax_sharded_weights"]

logger = logging.getLogger(__name__)
_ADAPTER = FlaxAdapter()
OUTPUT_FIELDS = ("hidden_states", "attentions")  # declared by every output, set only when asked for


def _flatten_output(out: ModelOutput) -> tuple[tuple[Any, ...], tuple[tuple[str, ...], tuple[str, ...]]]:
    return tuple(out[k] for k in out), (tuple(out), out._fields)


def _unflatten_output(aux: tuple[tuple[str, ...], tuple[str, ...]], children: Any) -> ModelOutput:
    keys, fields = aux
    return ModelOutput({**dict.fromkeys(fields), **dict(zip(keys, children))})


# outputs pass through jax.jit and the other transformations as pytrees
jax.tree_util.register_pytree_node(ModelOutput, _flatten_output, _unflatten_output)

_ACTIVATIONS = activation_table(Ops(
    gelu=lambda x, approximate: nn.gelu(x, approximate=approximate), tanh=jnp.tanh, sigmoid=jax.nn.sigmoid,
    softplus=jax.nn.softplus, erf=jax.scipy.special.erf, relu=jax.nn.relu, minimum=jnp.minimum, maximum=jnp.maximum,
))


def activation(name: str) -> Any:
    """The activation function for a config's name (``gelu``, ``gelu_new``, ``relu``...): the core's formula."""
    return _ACTIVATIONS[name]


def attention_bias(mask: Any, dtype: Any, already_4d: bool = False) -> jnp.ndarray:
    """0 where attention is allowed, the dtype's minimum where it is not; ``[batch, 1, 1, seq]`` from a 2-D mask."""
    allowed = mask if already_4d else (mask[:, None, None, :] > 0)
    return jnp.where(allowed, 0.0, jnp.finfo(dtype).min).astype(dtype)


class FlaxPreTrainedModel(PushToHubMixin):
    """Base class of modelport's Flax models: a linen module plus its params pytree."""

    config_class: type[PretrainedConfig] = PretrainedConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    module_class: type[nn.Module]

    def __init__(self, config: PretrainedConfig, module: nn.Module | None = None, input_shape: tuple[int, ...] = (1, 1),
                 seed: int = 0, dtype: Any = jnp.float32, _do_init: bool = True, gradient_checkpointing: bool = False) -> None:
        self.config = config
        self.dtype = dtype
        self.input_shape = input_shape
        self.seed = seed
        self.module = (
            module if module is not None else self.module_class(config, dtype=dtype, gradient_checkpointing=gradient_checkpointing)
        )
        self._params: dict | None = self.init_weights(jax.random.PRNGKey(seed), input_shape) if _do_init else None
        self.generation_config = GenerationConfig.from_model_config(config) if self.can_generate() else None

    # -- parameters -----------------------------------------------------------------------
    def dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        return {"input_ids": jnp.zeros(input_shape, dtype="i4")}

    def init_weights(self, rng: Any, input_shape: tuple[int, ...], params: dict | None = None) -> dict:
        """Random parameters; with ``params``, only the missing leaves are filled in."""
        fresh = self.module.init({"params": rng, "dropout": rng}, **self.dummy_inputs(input_shape))["params"]
        fresh = jax.tree_util.tree_map(lambda x: x, dict(fresh))
        if params is None:
            return fresh
        flat, given = flatten_dict(fresh), flatten_dict(params)
        flat.update(given)
        return unflatten_dict(flat)

    @property
    def params_shape_tree(self) -> dict:
        """The parameter tree as ``jax.ShapeDtypeStruct`` leaves, computed without allocating."""
        return jax.eval_shape(lambda rng: self.init_weights(rng, self.input_shape), jax.random.PRNGKey(0))

    @property
    def required_params(self) -> set[tuple[str, ...]]:
        return set(flatten_dict(self.params_shape_tree))

    @property
    def params(self) -> dict:
        if self._params is None:
            raise ConfigError(
                "the model was built with _do_init=False and has no params",
                where=type(self).__name__,
                fix="Pass params= to the call, or set model.params.",
            )
        return self._params

    @params.setter
    def params(self, params: dict) -> None:
        missing = self.required_params - set(flatten_dict(params))
        if missing:
            raise ConfigError(
                "params are missing required keys", where=type(self).__name__, received=sorted("/".join(k) for k in missing)[:10]
            )
        self._params = params

    @property
    def framework(self) -> str:
        return "flax"

    def can_generate(self) -> bool:
        """Whether the model has a ``generate()`` (the language models, through :class:`~.generation.FlaxGenerationMixin`)."""
        return callable(getattr(self, "generate", None))

    def enable_gradient_checkpointing(self) -> None:
        self.module = self.module_class(self.config, dtype=self.dtype, gradient_checkpointing=True)

    @classmethod
    def register_for_auto_class(cls, auto_class: str | type = "FlaxAutoModel") -> None:
        cls._auto_class = auto_class if isinstance(auto_class, str) else auto_class.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module on its params: a :class:`~modelport.outputs.ModelOutput` (a JAX pytree, so the call can be
        jitted), or a tuple with ``return_dict=False``; ``output_hidden_states`` and ``output_attentions`` default
        to the config's."""
        return call_with_output_conventions(self.config, self._run, args, kwargs, accepted_output_flags(type(self)._run))

    #: the label keywords whose loss the model computes (transformers' Flax models take none; modelport's heads do)
    loss_inputs: tuple[str, ...] = ()

    def _run(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None, position_ids: Any = None,
             params: dict | None = None, dropout_rng: Any = None, train: bool = False, output_hidden_states: bool = False,
             output_attentions: bool = False, **labels: Any) -> ModelOutput:
        labels = self._given_labels(labels)
        rngs = {"dropout": dropout_rng} if dropout_rng is not None else {}
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        out = self.module.apply({"params": params if params is not None else self.params}, jnp.asarray(input_ids),
                                jnp.asarray(attention_mask),
                                None if token_type_ids is None else jnp.asarray(token_type_ids),
                                None if position_ids is None else jnp.asarray(position_ids),
                                not train, output_hidden_states, output_attentions, rngs=rngs)
        out = ModelOutput({**out, **{name: None for name in OUTPUT_FIELDS if name not in out}})
        if not labels:
            return out
        return ModelOutput({"loss": self.compute_loss(out, jnp.asarray(attention_mask), **labels), **out})

    def _given_labels(self, labels: dict[str, Any]) -> dict[str, Any]:
        """The labels passed (None counts as not passed): all of :attr:`loss_inputs`, or none."""
        unknown = sorted(set(labels) - set(self.loss_inputs))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments {unknown}; "
                            f"the labels it takes are {list(self.loss_inputs) or 'none'}")
        given = {name: value for name, value in labels.items() if value is not None}
        if given and set(given) != set(self.loss_inputs):
            raise ConfigError("the loss needs every label input", where=type(self).__name__,
                              expected=list(self.loss_inputs), received=sorted(given),
                              fix="Pass all of them, or none to get the outputs without a loss.")
        return {name: jnp.asarray(value) for name, value in given.items()}

    def compute_loss(self, outputs: ModelOutput, attention_mask: Any, **labels: Any) -> Any:
        """The loss of ``outputs`` against ``labels`` (``attention_mask``: the call's, all ones when none was given),
        by the core's rules; heads with :attr:`loss_inputs` define it."""
        raise NotImplementedError(f"{type(self).__name__} computes no loss")

    # -- dtype casting ------------------------------------------------------------------------
    @staticmethod
    def _cast(params: dict, dtype: Any, mask: Any = None) -> dict:
        def cast(leaf, keep):  # type: ignore[no-untyped-def]
            return leaf.astype(dtype) if keep and jnp.issubdtype(leaf.dtype, jnp.floating) else leaf

        if mask is None:
            return jax.tree_util.tree_map(lambda leaf: cast(leaf, True), params)
        return jax.tree_util.tree_map(cast, params, mask)

    def to_bf16(self, params: dict, mask: Any = None) -> dict:
        """A new tree with floating leaves cast to bfloat16 where ``mask`` is True (all when None)."""
        return self._cast(params, jnp.bfloat16, mask)

    def to_fp16(self, params: dict, mask: Any = None) -> dict:
        return self._cast(params, jnp.float16, mask)

    def to_fp32(self, params: dict, mask: Any = None) -> dict:
        return self._cast(params, jnp.float32, mask)

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike[str], dtype: Any = jnp.float32, *model_args: Any,
                        config: PretrainedConfig | None = None, cache_dir: Any = None, ignore_mismatched_sizes: bool = False,
                        force_download: bool = False, local_files_only: bool = False, token: Any = None,
                        revision: str = "main", **kwargs: Any) -> Any:
        """Load from a folder or Hub repo id, from any checkpoint format (Flax msgpack preferred).

        ``dtype`` is the computation dtype (``"auto"``: the config's, else the checkpoint's); parameters keep the
        checkpoint's dtype.
        ``_do_init=False`` returns ``(model, params)`` and allocates nothing but the loaded params.
        """
        found = resolve_pretrained(cls, pretrained_model_name_or_path, "flax", dict(
            dtype=dtype, config=config, cache_dir=cache_dir, ignore_mismatched_sizes=ignore_mismatched_sizes,
            force_download=force_download, local_files_only=local_files_only, token=token, revision=revision, **kwargs))
        do_init = found.options.get("_do_init", True)
        output_loading_info = found.options.get("output_loading_info", False)
        ignore_mismatched_sizes = found.options.get("ignore_mismatched_sizes", False)
        dtype = found.options.get("dtype", dtype)
        if isinstance(dtype, str) and dtype == "auto":  # compute in the config's dtype, else the checkpoint's
            dtype = jnp.dtype(found.auto_dtype())
        model = cls(found.config, *model_args, dtype=dtype, _do_init=False, **found.model_kwargs)
        if model.can_generate() and found.generation_config is not None:
            model.generation_config = found.generation_config
        mesh = found.options.get("mesh")
        if mesh is not None:
            params, info = model._load_sharded(found.source, mesh, found.options.get("partition_rules"), ignore_mismatched_sizes)
        else:
            params, info = model._load(found.source, ignore_mismatched_sizes)
        if do_init:
            absent = model.required_params - set(flatten_dict(params))
            if absent and mesh is not None:  # drawing them would build the whole model on one device
                raise ConfigError("weights the checkpoint lacks cannot be drawn into a mesh", where=f"{cls.__name__}.from_pretrained",
                                  received=sorted("/".join(k) for k in absent)[:10],
                                  fix="Load with _do_init=False (the params come back without them), then initialise "
                                      "those leaves with your sharding.")
            if absent:  # missing or mismatched leaves: drawn afresh
                params = model.init_weights(jax.random.PRNGKey(model.seed), model.input_shape, params)
            model._params = params
            return (model, info) if output_loading_info else model
        return (model, params, info) if output_loading_info else (model, params)

    def _parameter_tree(self) -> ParameterTree:
        shapes = flatten_dict(self.params_shape_tree, sep="/")
        return ParameterTree(
            "flax", {path: tuple(leaf.shape) for path, leaf in shapes.items()}, self.base_model_prefix, type(self).__name__
        ).with_config_facts(self.config)

    def _load(self, ckpt: Any, ignore_mismatched_sizes: bool) -> tuple[dict, dict]:
        """The params tree from ``ckpt`` (the core's loop); leaves the checkpoint lacks are absent."""
        flat: dict[str, Any] = {}

        def assign(path: str, array: np.ndarray) -> None:
            flat[path] = jax.device_put(array)  # adopts the (64-byte aligned) buffer on CPU: no second copy

        report = load_weights(ckpt, self._parameter_tree(), assign, ignore_mismatched_sizes=ignore_mismatched_sizes)
        return unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()}), report.as_dict()

    def _load_sharded(self, ckpt: Any, mesh: Any, rules: Any, ignore_mismatched_sizes: bool) -> tuple[dict, dict]:
        """The params tree from ``ckpt`` as ``jax.Array``s sharded over ``mesh`` by ``rules``
        (:mod:`modelport_flax.sharding`); this process reads only the blocks its devices hold."""
        from .sharding import place_blocks_on

        flat: dict[str, Any] = {}
        place = place_blocks_on(mesh, rules, self.config.model_type, flat)
        report = load_weights(ckpt, self._parameter_tree(), None, ignore_mismatched_sizes=ignore_mismatched_sizes,
                              place_blocks=place)
        return unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()}), report.as_dict()

    # -- saving -------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike[str], params: dict | None = None, push_to_hub: bool = False,
                        max_shard_size: int | str = "5GB", token: Any = None, safe_serialization: bool = True,
                        **kwargs: Any) -> Any:
        """``config.json`` plus the weights: by default safetensors in the canonical (PyTorch) form,
        loadable by every framework; ``safe_serialization=False`` writes ``flax_model.msgpack``.
        """

        def tensors() -> list:
            tree = params if params is not None else self.params
            return lazy_weights(flatten_dict(tree, sep="/"), _ADAPTER, canonical=safe_serialization)

        return save_pretrained(self, "flax", save_directory, tensors, dict(
            push_to_hub=push_to_hub, max_shard_size=max_shard_size, token=token, **kwargs),
            format="safetensors" if safe_serialization else "msgpack", tensor_framework="pt" if safe_serialization else "flax",
            architecture=type(self).__name__.removeprefix("Flax"), sharded=self._sharded_save(params))

    def _sharded_save(self, params: dict | None) -> Any:
        """``(tensors, collective)`` when the params lie on several devices: each process writes its blocks."""
        from . import sharding

        flat = flatten_dict(params if params is not None else self.params, sep="/")
        if not sharding.is_sharded(flat):
            return None
        return sharding.global_tensors(flat, _ADAPTER.dtype_of), sharding.collective()


def load_flax_sharded_weights(shard_files: list[str | os.PathLike[str]]) -> dict:
    """The params tree of a sharded ``flax_model.msgpack`` checkpoint, one shard in memory at a time before it is placed."""
    from modelport.formats import flax_msgpack

    flat: dict[tuple[str, ...], Any] = {}
    for shard in shard_files:
        for name, array in flax_msgpack.iter_tensors(shard):
            if tuple(name.split("/")) in flat:
                raise ConversionError("a parameter appears in two shards", where=os.fspath(shard), received=name)
            flat[tuple(name.split("/"))] = jnp.asarray(array)
    return unflatten_dict(flat)
