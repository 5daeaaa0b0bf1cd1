"""``TFPreTrainedModel``: transformers 4.x's TensorFlow API on Keras 3.

A model is built (Keras creates its variables on the first call), then filled
one tensor at a time from a ``Checkpoint`` of any format: every checkpoint
name goes to the canonical (PyTorch) form with the core's rules and from there
to this model's variable, whose TF name (``bert/encoder/layer_._0/...:0``)
comes from the layer tree (:func:`~modelport_tf.layers.named_variables`).
So PyTorch, TF and Flax checkpoints, sharded or not, load the same way.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from modelport import AutoConfig, PretrainedConfig
from modelport.adapters import ParameterTree
from modelport.dtypes import canonical_dtype
from modelport.errors import AdapterError, ConfigError
from modelport.generation import GenerationConfig
from modelport.hub import PushToHubMixin
from modelport.modeling.loading import load_weights
from modelport.modeling.resolve import resolve_pretrained
from modelport.modeling.save import lazy_weights, save_pretrained
from modelport.outputs import ModelOutput, accepted_output_flags, call_with_output_conventions

from ._keras import keras, tf
from .adapter import TFAdapter
from .layers import (
    assign_in_place,
    build_by_call,
    build_from_declared_shapes,
    deferred_variables,
    dtype_policy,
    expand_head_mask,
    initialize_deferred,
    named_variables,
    replace_variable,
)
from .training import TrainingMixin

__all__ = ["TFPreTrainedModel", "TFModelUtilsMixin", "ModelOutput", "masked_mean_loss"]

logger = logging.getLogger(__name__)

_ADAPTER = TFAdapter()
DUMMY_INPUT_IDS = [[7, 6, 0, 0, 1], [1, 2, 3, 0, 0], [0, 0, 0, 4, 5]]


def masked_mean_loss(labels: Any, logits: Any) -> Any:
    """Cross-entropy averaged over the positions whose label is not -100 (transformers' convention)."""
    labels = tf.cast(labels, tf.int32)
    keep = tf.cast(labels != -100, logits.dtype)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.nn.relu(labels), logits=logits)
    return tf.reduce_sum(losses * keep) / tf.maximum(tf.reduce_sum(keep), 1.0)


class TFModelUtilsMixin:
    """Counting helpers shared by every Keras model."""

    def num_parameters(self, only_trainable: bool = False) -> int:
        """Weights of the model (Keras' random-seed state of dropout layers is not a parameter)."""
        self.build_in_name_scope()  # type: ignore[attr-defined]
        variables = named_variables(self).values()
        return int(sum(int(np.prod(v.shape)) for v in variables if v.trainable or not only_trainable))


class TFPreTrainedModel(TrainingMixin, keras.Model, TFModelUtilsMixin, PushToHubMixin):
    """Base class of modelport's TensorFlow models (Keras 3, TensorFlow backend)."""

    config_class: type[PretrainedConfig] = PretrainedConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    # True for the bare encoders (TFBertModel): their PyTorch twins name weights without the prefix.
    is_base_model = False
    # keyword arguments a model's constructor passes on to keras.Model (from_pretrained checks against them)
    _extra_init_keywords = ("name", "trainable")
    _auto_class: str | None = None

    def __init__(self, config: PretrainedConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(*inputs, **kwargs)
        if not isinstance(config, PretrainedConfig):
            raise ConfigError("a model needs a PretrainedConfig", where=type(self).__name__, received=type(config).__name__,
                              fix=f"Build it with {type(self).__name__}(config) or {type(self).__name__}.from_pretrained(...).")
        if getattr(config, "pruned_heads", None):
            raise AdapterError("pruned models are not supported by the TF adapter", where=type(self).__name__,
                               received=f"config.pruned_heads = {config.pruned_heads}",
                               fix="Load the pruned checkpoint with modelport_torch or modelport_flax.")
        self.config = config
        self.name_or_path = config.name_or_path
        self.generation_config = GenerationConfig.from_model_config(config) if self.can_generate() else None

    # -- inputs and outputs ---------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Keras' call with transformers' output conventions: ``output_hidden_states`` and ``output_attentions``
        default to the config's, and ``return_dict=False`` (or ``config.return_dict = False``) gives a tuple."""
        return call_with_output_conventions(self.config, super().__call__, args, kwargs,
                                            accepted_output_flags(type(self).call))

    @property
    def framework(self) -> str:
        return "tf"

    @property
    def dummy_inputs(self) -> dict[str, Any]:
        return {"input_ids": tf.constant(DUMMY_INPUT_IDS, dtype=tf.int32)}

    @property
    def input_signature(self) -> dict[str, Any]:
        """What :meth:`serving` takes: int32 ``[batch, sequence]`` tensors for each input the model accepts."""
        accepted = inspect.signature(self.call).parameters
        return {name: tf.TensorSpec((None, None), tf.int32, name=name)
                for name in ("input_ids", "attention_mask", "token_type_ids") if name in accepted}

    def serving(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.serving_output(self.call(**inputs, training=False))

    def serving_output(self, output: dict[str, Any]) -> dict[str, Any]:
        """The tensors of an output worth serving (tuples of hidden states are stacked)."""
        served = {}
        for name, value in output.items():
            if isinstance(value, (tuple, list)):
                value = tf.stack(value)
            served[name] = value
        return served

    def _unpack(self, input_ids: Any, values: dict[str, Any]) -> dict[str, Any]:
        """Accept ``model(dict)`` (what ``fit`` and ``serving`` pass) as well as keyword inputs."""
        if isinstance(input_ids, dict):
            values = {**values, **{k: v for k, v in input_ids.items()}}
        else:
            values = {**values, self.main_input_name: input_ids}
        return {k: (tf.convert_to_tensor(v) if v is not None and not isinstance(v, (bool, list, tuple)) else v)
                for k, v in values.items()}

    def build_in_name_scope(self) -> None:
        """Create every variable (transformers' name for building a model before its first call)."""
        if not self.built or not self.variables:
            self.build_variables()

    def build_variables(self) -> None:
        """Create every variable from the layers' declared shapes, with no call; by one call on
        :attr:`dummy_inputs` when some custom layer declares none (see :func:`~modelport_tf.layers.build_from_declared_shapes`)."""
        # the recorded build shape is each input's rank with every size open (Keras derives a default signature from it)
        shapes = {name: (None,) * len(value.shape) for name, value in self.dummy_inputs.items()}
        if not build_from_declared_shapes(self, shapes):
            logger.debug("%s: a layer declares no input shape; building by a call on dummy inputs", type(self).__name__)
            build_by_call(self)

    def get_config(self) -> dict[str, Any]:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict[str, Any] | PretrainedConfig, **kwargs: Any) -> Any:
        if not isinstance(config, PretrainedConfig):
            config_cls = cls.config_class if cls.config_class is not PretrainedConfig else AutoConfig
            config = config_cls.from_dict(config) if config_cls is not AutoConfig else AutoConfig.for_model(**config)
        return cls(config, **kwargs)

    # -- embeddings and heads -----------------------------------------------------------------------
    @property
    def base_model(self) -> Any:
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self) -> Any:
        main = self.base_model
        if main is self or not hasattr(main, "get_input_embeddings"):
            raise AdapterError("this model has no input embeddings", where=type(self).__name__)
        return main.get_input_embeddings()

    def set_input_embeddings(self, value: Any) -> None:
        self.base_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> Any:
        """What a language-model head projects onto: the input embeddings when tied, its own
        :class:`~modelport_tf.layers.OutputProjection` when the config unties them; None without a head."""
        return None

    def set_output_embeddings(self, value: Any) -> None:
        output = self.get_output_embeddings()
        if output is None:
            raise AdapterError("this model has no output embeddings", where=type(self).__name__)
        if output is self.get_input_embeddings():
            self.set_input_embeddings(value)  # tied: one table serves both
        else:
            replace_variable(output, "kernel", value)
            output.vocab_size = int(output.kernel.shape[1])

    def get_lm_head(self) -> Any:
        return None

    def get_bias(self) -> dict[str, Any] | None:
        head = self.get_lm_head()
        return head.get_bias() if head is not None and hasattr(head, "get_bias") else None

    def set_bias(self, value: dict[str, Any]) -> None:
        head = self.get_lm_head()
        if head is None or not hasattr(head, "set_bias"):
            raise AdapterError("this model has no output bias", where=type(self).__name__)
        head.set_bias(value)

    def resize_token_embeddings(self, new_num_tokens: int | None = None) -> Any:
        """Grow or shrink the vocabulary, keeping the old rows; tied heads and output biases follow."""
        embeddings = self.get_input_embeddings()
        if new_num_tokens is None or new_num_tokens == embeddings.vocab_size:
            return embeddings
        self.build_in_name_scope()
        output = self.get_output_embeddings()
        embeddings.resize(int(new_num_tokens))
        if output is not None and output is not embeddings:  # an untied head grows with the vocabulary
            output.resize(int(new_num_tokens))
        bias = self.get_bias()
        if bias is not None:
            resized = {}
            for name, variable in bias.items():
                old = variable.value
                keep = min(int(new_num_tokens), int(old.shape[-1]))
                resized[name] = tf.concat([old[..., :keep], tf.zeros((*old.shape[:-1], int(new_num_tokens) - keep), old.dtype)], -1)
            self.set_bias(resized)
        self.config.vocab_size = int(new_num_tokens)
        return embeddings

    def get_head_mask(self, head_mask: Any, num_hidden_layers: int) -> Any:
        """``[layers, 1, heads, 1, 1]`` from a ``[heads]`` or ``[layers, heads]`` mask; a list of None for None."""
        return expand_head_mask(head_mask, num_hidden_layers)

    def prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        raise AdapterError(
            "prune_heads is not supported by the TF adapter", where=type(self).__name__,
            received=f"heads_to_prune = {heads_to_prune}",
            fix="Prune with modelport_torch (PreTrainedModel.prune_heads), or pass a head_mask to the call to zero heads.",
        )

    def can_generate(self) -> bool:
        """Whether the model has a ``generate()`` (the language models, through :class:`~.generation.TFGenerationMixin`)."""
        return callable(getattr(self, "generate", None))

    @classmethod
    def register_for_auto_class(cls, auto_class: str | type = "TFAutoModel") -> None:
        cls._auto_class = auto_class if isinstance(auto_class, str) else auto_class.__name__

    # -- names --------------------------------------------------------------------------------------
    def tf_weights(self) -> dict[str, Any]:
        """Every variable by its scope-free transformers TF name, building the model if needed."""
        if not self.built:
            self.build_in_name_scope()
        return named_variables(self)

    # -- loading ------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike[str], *model_args: Any,
                        config: PretrainedConfig | str | os.PathLike[str] | None = None, cache_dir: Any = None,
                        ignore_mismatched_sizes: bool = False, force_download: bool = False, local_files_only: bool = False,
                        token: Any = None, revision: str = "main", use_safetensors: bool | None = None, **kwargs: Any) -> Any:
        """Load from a folder or Hub repo id, from any checkpoint format.

        TF checkpoints (safetensors, then ``tf_model.h5``) are preferred, then
        PyTorch, then Flax; ``from_pt=True`` / ``from_flax=True`` pick one.
        ``subfolder`` applies to the config, the weights and every shard.
        ``dtype`` (a name, a ``tf.DType`` or ``"auto"``: the config's, else the
        checkpoint's) is the Keras dtype policy of every layer: variables and
        computation in that dtype (float32 by default).
        """
        # the checkpoint first: a missing or malformed file is reported before the model costs anything
        found = resolve_pretrained(cls, pretrained_model_name_or_path, "tf", dict(
            config=config, cache_dir=cache_dir, ignore_mismatched_sizes=ignore_mismatched_sizes,
            force_download=force_download, local_files_only=local_files_only, token=token, revision=revision,
            use_safetensors=use_safetensors, **kwargs))
        ignore_mismatched_sizes = found.options.get("ignore_mismatched_sizes", False)
        config, ckpt, kwargs = found.config, found.source, found.model_kwargs
        output_loading_info = found.options.get("output_loading_info", False)
        dtype = _policy_dtype(found)
        with dtype_policy(dtype):  # every layer made here computes in dtype and keeps its variables in it
            model = cls(config, *model_args, **kwargs)
            with deferred_variables():  # names and shapes now, memory only as the checkpoint fills them
                model.build_variables()
        config.dtype = dtype
        if model.can_generate() and found.generation_config is not None:
            model.generation_config = found.generation_config
        try:
            info = model.load_checkpoint(ckpt, ignore_mismatched_sizes=ignore_mismatched_sizes)
        finally:
            initialize_deferred()  # weights the checkpoint lacked get their initialisers' values
        return (model, info) if output_loading_info else model

    def load_checkpoint(self, ckpt: Any, ignore_mismatched_sizes: bool = False) -> dict[str, list]:
        """Assign every weight of ``ckpt`` to this model (the core's loop), one tensor in memory at a time."""
        variables = self.tf_weights()
        tree = ParameterTree("tf", {n: tuple(int(d) for d in v.shape) for n, v in variables.items()}, self.base_model_prefix,
                             type(self).__name__).with_config_facts(self.config)

        def assign(name: str, array: np.ndarray) -> None:
            assign_in_place(variables[name], array.astype(variables[name].dtype, copy=False))

        return load_weights(ckpt, tree, assign, ignore_mismatched_sizes=ignore_mismatched_sizes).as_dict()

    # -- saving -------------------------------------------------------------------------------------
    def sync_tied_copies(self) -> None:
        """Before a save, give the variables a tied weight has under a second name the value that the model computes
        with (TF ALBERT trains ``predictions/decoder/bias`` and keeps ``predictions/bias`` beside it). No model here
        but those has any."""

    def save_pretrained(self, save_directory: str | os.PathLike[str], saved_model: bool = False, version: int = 1,
                        push_to_hub: bool = False, signatures: Any = None, max_shard_size: int | str = "5GB",
                        create_pr: bool = False, safe_serialization: bool = True, token: Any = None,
                        layout: str = "canonical", **kwargs: Any) -> Any:
        """``config.json`` plus the weights.

        By default ``model.safetensors`` in the canonical form (PyTorch names and
        layouts), which PyTorch, Flax and transformers 4.x's PyTorch load with no
        flag. ``layout="tf"`` writes safetensors with TF names (metadata
        ``format: tf``), as transformers' TF models did: transformers 4.57.6's TF
        classes cannot read PyTorch-format safetensors, so this is the file for
        them. ``safe_serialization=False`` writes transformers' ``tf_model.h5``.
        All are sharded by ``max_shard_size`` with an index. ``saved_model=True``
        also exports a SavedModel under ``saved_model/<version>``.
        """
        if layout not in ("canonical", "tf"):
            raise ConfigError("unknown weights layout", where="save_pretrained", expected="'canonical' or 'tf'", received=layout)
        canonical = safe_serialization and layout == "canonical"
        self.sync_tied_copies()

        def tensors() -> list:
            return lazy_weights(self.tf_weights(), _ADAPTER, canonical=canonical,
                                drop_prefix=self.base_model_prefix if self.is_base_model else "")

        def export(folder: Path) -> None:  # uploaded with the weights
            self.export_saved_model(folder / "saved_model" / str(version), signatures=signatures)

        return save_pretrained(self, "tf", save_directory, tensors, dict(
            push_to_hub=push_to_hub, create_pr=create_pr, max_shard_size=max_shard_size, token=token, **kwargs),
            format="safetensors" if safe_serialization else "h5", tensor_framework="pt" if canonical else "tf",
            architecture=type(self).__name__.removeprefix("TF"), tf_scope=self.name, extra_files=export if saved_model else None)

    def export_saved_model(self, path: str | os.PathLike[str], signatures: Any = None) -> None:
        """A TensorFlow SavedModel whose ``serving_default`` signature runs :meth:`serving`."""
        self.build_in_name_scope()
        archive = keras.export.ExportArchive()
        archive.track(self)
        if signatures is None:
            signatures = {"serving_default": self.serving}
        elif callable(signatures):
            signatures = {"serving_default": signatures}
        for endpoint, fn in signatures.items():
            archive.add_endpoint(name=endpoint, fn=fn, input_signature=[self.input_signature])
        archive.write_out(os.fspath(path), verbose=False)


def _policy_dtype(found: Any) -> str:
    """The canonical dtype ``from_pretrained``'s ``dtype`` asks for: float32 by default, ``"auto"``: the config's or the
    checkpoint's, else a name or a ``tf.DType``."""
    asked = found.options.get("dtype")
    if asked is None:
        return "float32"
    if isinstance(asked, tf.DType):
        return canonical_dtype(asked.name)
    return found.auto_dtype() if asked == "auto" else canonical_dtype(asked)
