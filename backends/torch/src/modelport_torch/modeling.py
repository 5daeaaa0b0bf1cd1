"""``PreTrainedModel`` for PyTorch: transformers 4.x's loading and saving on top of the core.

The core finds the files (local or Hub), reads any format, maps TF and Flax
names to PyTorch's and writes crash-safe sharded checkpoints; this module
builds the model without allocating initial weights (meta device), fills it
one tensor at a time, and hands tensors back for saving.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import torch
from torch import nn

from modelport import PretrainedConfig
from modelport.activations import Ops, activation_table
from modelport.adapters import ParameterTree
from modelport.checkpoint import Checkpoint
from modelport.conversion.plan import plan_conversion
from modelport.dtypes import canonical_dtype
from modelport.errors import CheckpointNotFoundError, ConversionError, UnsupportedKeywordError
from modelport.generation import GenerationConfig
from modelport.hub import PushToHubMixin
from modelport.modeling.loading import load_weights
from modelport.modeling.resolve import resolve_pretrained
from modelport.modeling.save import lazy_weights, save_pretrained
from modelport.outputs import ModelOutput, accepted_output_flags, call_with_output_conventions

from .adapter import TorchAdapter, torch_dtype
from .mapping import FileMaps, mapping_enabled
from .meta import build_on_meta
from .serialization import write_bin

__all__ = ["PreTrainedModel", "ModuleUtilsMixin", "ModelOutput", "activation", "extended_attention_mask", "load_sharded_checkpoint"]

logger = logging.getLogger(__name__)
_ADAPTER = TorchAdapter()


_ACTIVATIONS = activation_table(Ops(
    gelu=lambda x, approximate: nn.functional.gelu(x, approximate="tanh" if approximate else "none"),
    tanh=torch.tanh, sigmoid=torch.sigmoid, softplus=nn.functional.softplus, erf=torch.erf, relu=torch.relu,
    minimum=lambda x, bound: torch.clamp(x, max=bound),
    maximum=lambda x, other: torch.clamp(x, min=other) if isinstance(other, float) else torch.maximum(x, other),
))


def activation(name: str) -> Any:
    """The activation function for a config's name (``gelu``, ``gelu_new``, ``relu``...): the core's formula."""
    return _ACTIVATIONS[name]


def prune_linear(layer: nn.Module, index: torch.Tensor, dim: int) -> None:
    """Keep only ``index`` along ``dim`` of a Linear (0: outputs, 1: inputs) or Conv1D (0: inputs, 1: outputs), in place."""
    with torch.no_grad():
        weight = layer.weight.index_select(dim, index.to(layer.weight.device)).clone()
        bias = layer.bias
        if bias is not None and ((isinstance(layer, nn.Linear) and dim == 0) or (not isinstance(layer, nn.Linear) and dim == 1)):
            bias = bias.index_select(0, index.to(bias.device)).clone()
    layer.weight = nn.Parameter(weight)
    if bias is not None:
        layer.bias = nn.Parameter(bias.clone())
    if isinstance(layer, nn.Linear):
        layer.out_features, layer.in_features = weight.shape
    else:
        layer.nf = weight.shape[1]


def kept_head_index(heads: set[int], n_heads: int, head_size: int, already: set[int]) -> tuple[set[int], torch.Tensor]:
    """Heads still to remove (numbered as originally) and the flat indices to keep."""
    heads = set(heads) - already
    # explicit CPU: models are built under torch.device("meta"), where nonzero has no meaning
    mask = torch.ones(n_heads, head_size, device="cpu")
    for head in heads:
        mask[head - sum(1 for h in already if h < head)] = 0
    return heads, torch.arange(mask.numel(), device="cpu")[mask.view(-1).eq(1)]


def extended_attention_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[batch, seq]`` of 1/0 to an additive ``[batch, 1, 1, seq]`` mask (0 or the dtype's minimum)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class ModuleUtilsMixin:
    """Helpers transformers 4.x's models have: device, dtype, parameter counts, masks."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device  # type: ignore[attr-defined]

    @property
    def dtype(self) -> torch.dtype:
        return next(p.dtype for p in self.parameters() if p.is_floating_point())  # type: ignore[attr-defined]

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        embedding_ids = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)} if exclude_embeddings else set()  # type: ignore[attr-defined]
        return sum(p.numel() for p in self.parameters()  # type: ignore[attr-defined]
                   if (p.requires_grad or not only_trainable) and id(p) not in embedding_ids)

    def get_extended_attention_mask(self, attention_mask: torch.Tensor, input_shape: Any = None, dtype: torch.dtype | None = None):
        return extended_attention_mask(attention_mask, dtype or self.dtype)

    def invert_attention_mask(self, encoder_attention_mask: torch.Tensor) -> torch.Tensor:
        return extended_attention_mask(encoder_attention_mask, self.dtype)

    @staticmethod
    def _rss_bytes() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def add_memory_hooks(self) -> None:
        """Record resident memory before and after every module's forward (``mem_rss_pre_forward``, ``mem_rss_diff``)."""
        def pre(module, *args):  # type: ignore[no-untyped-def]
            module.mem_rss_pre_forward = ModuleUtilsMixin._rss_bytes()

        def post(module, *args):  # type: ignore[no-untyped-def]
            module.mem_rss_post_forward = ModuleUtilsMixin._rss_bytes()
            module.mem_rss_diff = module.mem_rss_post_forward - module.mem_rss_pre_forward + getattr(module, "mem_rss_diff", 0)

        for module in self.modules():  # type: ignore[attr-defined]
            module.register_forward_pre_hook(pre)
            module.register_forward_hook(post)
        self.reset_memory_hooks_state()

    def reset_memory_hooks_state(self) -> None:
        for module in self.modules():  # type: ignore[attr-defined]
            module.mem_rss_diff = 0
            module.mem_rss_post_forward = 0
            module.mem_rss_pre_forward = 0

    def get_head_mask(self, head_mask: torch.Tensor | None, num_hidden_layers: int, is_attention_chunked: bool = False):
        if head_mask is None:
            return None
        if head_mask.dim() == 1:
            head_mask = head_mask[None, None, :, None, None].expand(num_hidden_layers, -1, -1, -1, -1)
        elif head_mask.dim() == 2:
            head_mask = head_mask[:, None, :, None, None]
        return head_mask.to(self.dtype)


class PreTrainedModel(nn.Module, ModuleUtilsMixin, PushToHubMixin):
    """Base class of modelport's PyTorch models (transformers 4.x's API)."""

    config_class: type[PretrainedConfig] = PretrainedConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    _no_split_modules: list[str] | None = None
    _keep_in_fp32_modules: list[str] | None = None
    _tied_weights_keys: list[str] | None = None
    _keys_to_ignore_on_load_missing: list[str] | None = None
    _keys_to_ignore_on_load_unexpected: list[str] | None = None

    def __init__(self, config: PretrainedConfig, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.config = config
        self.name_or_path = config.name_or_path
        self.generation_config = GenerationConfig.from_model_config(config) if self.can_generate() else None

    # -- outputs -----------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward`` with transformers' output conventions: ``output_hidden_states`` and ``output_attentions``
        default to the config's, and ``return_dict=False`` (or ``config.return_dict = False``) gives a tuple."""
        return call_with_output_conventions(self.config, super().__call__, args, kwargs,
                                            accepted_output_flags(type(self).forward))

    # -- weights -----------------------------------------------------------------------
    def post_init(self) -> None:
        if getattr(self.config, "pruned_heads", None):
            self.base_model._prune_heads({int(k): list(v) for k, v in self.config.pruned_heads.items()})
        self.init_weights()

    def prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        """Remove attention heads: ``{layer: [head, ...]}``; recorded in ``config.pruned_heads``."""
        for layer, heads in heads_to_prune.items():
            union = set(self.config.pruned_heads.get(layer, [])) | set(heads)
            self.config.pruned_heads[layer] = sorted(union)
        self.base_model._prune_heads(heads_to_prune)

    def _prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot prune heads")

    def init_weights(self) -> None:
        if not any(p.is_meta for p in self.parameters()):
            self.apply(self._init_weights)
        self.tie_weights()

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config, "initializer_range", 0.02)
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()
        elif hasattr(module, "bias") and isinstance(module.bias, nn.Parameter) and module is not self:
            module.bias.data.zero_()

    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self)

    @property
    def framework(self) -> str:
        return "pt"

    def get_input_embeddings(self) -> nn.Module:
        base = self.base_model
        if base is not self:
            return base.get_input_embeddings()
        raise NotImplementedError

    def get_output_embeddings(self) -> nn.Module | None:
        return None

    def tie_weights(self) -> None:
        """Share the output embeddings with the input ones (``tie_word_embeddings``) and re-tie module-level ties."""
        output = self.get_output_embeddings()
        if output is not None and getattr(self.config, "tie_word_embeddings", True):
            output.weight = self.get_input_embeddings().weight
        for module in self.modules():
            if hasattr(module, "decoder") and hasattr(module, "bias") and isinstance(module.bias, nn.Parameter):
                module.decoder.bias = module.bias  # BERT's decoder bias is its head's bias

    def can_generate(self) -> bool:
        """Whether the model has a ``generate()`` (the language models, through :class:`~.generation.GenerationMixin`)."""
        return callable(getattr(self, "generate", None))

    # -- embeddings -------------------------------------------------------------------------
    def set_input_embeddings(self, value: nn.Module) -> None:
        base = self.base_model
        if base is self:
            raise NotImplementedError
        base.set_input_embeddings(value)

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Resize the vocabulary: old rows kept, new rows drawn around the old embeddings' mean (or initialised).

        The output embeddings follow (tied, or resized alongside with a zero-padded bias);
        ``config.vocab_size`` is updated.
        """
        old = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return old
        target = new_num_tokens if new_num_tokens is not None else old.weight.shape[0]
        if pad_to_multiple_of is not None:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        new = self._resized_rows(old.weight, target, mean_resizing)
        embedding = nn.Embedding(target, old.weight.shape[1], padding_idx=old.padding_idx if (old.padding_idx or 0) < target else None,
                                 device=old.weight.device, dtype=old.weight.dtype)
        embedding.weight = nn.Parameter(new)
        self.set_input_embeddings(embedding)
        output = self.get_output_embeddings()
        if output is not None:
            tied = getattr(self.config, "tie_word_embeddings", True)
            if not tied:
                output.weight = nn.Parameter(self._resized_rows(output.weight, target, mean_resizing))
            if getattr(output, "bias", None) is not None:
                bias = output.bias.data
                grown = torch.zeros(target, dtype=bias.dtype, device=bias.device)
                grown[: min(target, bias.shape[0])] = bias[:target]
                output.bias = nn.Parameter(grown)
                for module in self.modules():  # heads that own the bias under their own name (BERT)
                    if getattr(module, "decoder", None) is output and isinstance(getattr(module, "bias", None), nn.Parameter):
                        module.bias = output.bias
            output.out_features = target
        self.config.vocab_size = target
        self.tie_weights()
        return self.get_input_embeddings()

    def _resized_rows(self, weight: torch.Tensor, target: int, mean_resizing: bool) -> torch.Tensor:
        old_rows = weight.shape[0]
        new = torch.empty(target, weight.shape[1], dtype=weight.dtype, device=weight.device)
        keep = min(old_rows, target)
        new[:keep] = weight.data[:keep]
        if target > old_rows:
            added = target - old_rows
            if mean_resizing:
                old = weight.data.float()
                mean = old.mean(0)
                centred = old - mean
                covariance = centred.T @ centred / old_rows
                try:
                    dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=1e-9 * covariance)
                    new[old_rows:] = dist.sample((added,)).to(weight.dtype)
                except ValueError:  # covariance not positive definite: use the mean
                    new[old_rows:] = mean.to(weight.dtype)
            else:
                new[old_rows:].normal_(mean=0.0, std=getattr(self.config, "initializer_range", 0.02))
        return new

    # -- training helpers ---------------------------------------------------------------------
    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        if not self.supports_gradient_checkpointing:
            raise ValueError(f"{type(self).__name__} does not support gradient checkpointing.")
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = False

    def enable_input_require_grads(self) -> None:
        def hook(module, inputs, output):  # type: ignore[no-untyped-def]
            output.requires_grad_(True)

        self._require_grads_hook = self.get_input_embeddings().register_forward_hook(hook)

    def disable_input_require_grads(self) -> None:
        handle = getattr(self, "_require_grads_hook", None)
        if handle is not None:
            handle.remove()
            self._require_grads_hook = None

    def get_memory_footprint(self, return_buffers: bool = True) -> int:
        """Bytes held by parameters (and buffers)."""
        total = sum(p.nelement() * p.element_size() for p in self.parameters())
        if return_buffers:
            total += sum(b.nelement() * b.element_size() for b in self.buffers())
        return total

    def estimate_tokens(self, input_dict: dict[str, Any]) -> int:
        return int(input_dict[self.main_input_name].numel()) if self.main_input_name in input_dict else 0

    def floating_point_ops(self, input_dict: dict[str, Any], exclude_embeddings: bool = True) -> int:
        """6 x tokens x (non-embedding) parameters: forward and backward, as in transformers."""
        return 6 * self.estimate_tokens(input_dict) * self.num_parameters(exclude_embeddings=exclude_embeddings)

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.tensor([[7, 6, 0, 0, 1], [1, 2, 3, 0, 0], [0, 0, 0, 4, 5]])}

    def add_model_tags(self, tags: list[str] | str) -> None:
        tags = [tags] if isinstance(tags, str) else list(tags)
        self.model_tags = list(dict.fromkeys([*(getattr(self, "model_tags", None) or []), *tags]))

    @classmethod
    def register_for_auto_class(cls, auto_class: str | type = "AutoModel") -> None:
        cls._auto_class = auto_class if isinstance(auto_class, str) else auto_class.__name__

    def get_compiled_call(self, compile_config: Any = None):  # type: ignore[no-untyped-def]
        if getattr(self, "_compiled_call", None) is None:
            self._compiled_call = torch.compile(self.__call__, **(compile_config or {}))
        return self._compiled_call

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike[str],
        *model_args: Any,
        config: PretrainedConfig | str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        ignore_mismatched_sizes: bool = False,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        revision: str = "main",
        use_safetensors: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Load a model from a folder or a Hub repo id, from any checkpoint format.

        PyTorch safetensors and ``.bin`` are preferred; with ``from_tf=True`` or
        ``from_flax=True`` (or when the folder holds only those) TF and Flax
        checkpoints, sharded too, are read and converted tensor by tensor. Every
        transformers 4.x keyword is honoured or refused by name (docs/keywords.md).
        """
        found = resolve_pretrained(cls, pretrained_model_name_or_path, "pt", dict(
            config=config, cache_dir=cache_dir, ignore_mismatched_sizes=ignore_mismatched_sizes,
            force_download=force_download, local_files_only=local_files_only, token=token, revision=revision,
            use_safetensors=use_safetensors, **kwargs), to_numpy=_ADAPTER.to_numpy)
        dtype = found.options.get("dtype")
        model = build_on_meta(cls, found.config, *model_args, **found.model_kwargs)  # memory comes with the weights
        target_dtype = torch_dtype(found.auto_dtype()) if dtype == "auto" else cls._target_dtype(dtype)
        if target_dtype != torch.float32:
            model.to(target_dtype)
            for name, module in model.named_modules():
                if cls._keep_in_fp32_modules and any(k in name.split(".") for k in cls._keep_in_fp32_modules):
                    module.float()
        model.tie_weights()
        mesh, tp_plan, fully_sharded = (found.options.get(k) for k in ("device_mesh", "tp_plan", "fully_shard"))
        if mesh is not None or tp_plan is not None or fully_sharded:
            model, info = model._load_sharded(found.source, mesh, tp_plan, bool(fully_sharded),
                                              found.options.get("ignore_mismatched_sizes", False))
        else:
            info = model._load_weights(found.source, found.options.get("ignore_mismatched_sizes", False),
                                       mapping_enabled(found.options.get("mmap")))
        model.config.dtype = canonical_dtype(str(model.dtype))
        model.name_or_path = str(pretrained_model_name_or_path)
        device = _device_of(found.options.get("device_map"))
        if device is not None:
            model.to(device)
        if model.can_generate() and found.generation_config is not None:
            model.generation_config = found.generation_config
        model.eval()
        return (model, info) if found.options.get("output_loading_info") else model

    @staticmethod
    def _target_dtype(dtype: Any) -> torch.dtype:
        if dtype is None:
            return torch.float32
        return torch_dtype(dtype if not isinstance(dtype, torch.dtype) else str(dtype))

    def _load_weights(self, source: Any, ignore_mismatched_sizes: bool, mapped: bool = False) -> dict[str, list]:
        """Fill a model built on the meta device one tensor at a time (the core's loop); initialise what the
        checkpoint lacks; re-tie.

        With ``mapped``, a tensor stored with its parameter's dtype and layout becomes the parameter's storage
        (a private map of the file, see :mod:`modelport_torch.mapping`); the others are read into memory of
        the parameter's own, allocated when its tensor arrives. Tied names share one tensor throughout.
        """
        targets = dict(self.state_dict(keep_vars=True))
        tree = ParameterTree("pt", {n: tuple(p.shape) for n, p in targets.items()}, self.base_model_prefix,
                             type(self).__name__).with_config_facts(self.config)
        sharing: dict[int, list[str]] = {}
        for name, tensor in targets.items():
            sharing.setdefault(id(tensor), []).append(name)
        loaded: set[int] = set()
        maps = FileMaps()

        def put(name: str, tensor: torch.Tensor) -> torch.Tensor:
            names = sharing.pop(id(targets[name]))  # every name tied to this weight
            new = _replace_tensor(self, names, tensor)
            for other in names:
                targets[other] = new
            sharing[id(new)] = names
            loaded.add(id(new))
            return new

        def assign(name: str, array: Any) -> None:
            target = targets[name]
            if target.is_meta:
                target = put(name, torch.empty(target.shape, dtype=target.dtype))
            with torch.no_grad():
                target.copy_(_ADAPTER.from_numpy(array))
            loaded.add(id(target))

        def place_bytes(name: str, found: Any, dtype: str, shape: tuple[int, ...]) -> bool:
            old = targets[name]
            stored = torch_dtype(dtype)
            if tuple(shape) != tuple(old.shape) or (stored != old.dtype and not (stored.is_floating_point and
                                                                                   old.dtype.is_floating_point)):
                return False
            tensor = maps.tensor(found, stored, tuple(shape))
            if tensor is None:
                return False
            if stored == old.dtype:
                put(name, tensor)  # the file's bytes are the parameter
                return True
            target = put(name, torch.empty(shape, dtype=old.dtype))
            with torch.no_grad():
                target.copy_(tensor)  # the cast, in one pass from the page cache into the parameter
            maps.release(found)
            return True

        report = load_weights(source, tree, assign, ignore_mismatched_sizes=ignore_mismatched_sizes,
                              ignore_missing=self._keys_to_ignore_on_load_missing or (),
                              ignore_unexpected=self._keys_to_ignore_on_load_unexpected or (),
                              place_bytes=place_bytes if mapped else None)
        self.tie_weights()
        missing = [n for n, t in self.state_dict(keep_vars=True).items() if t.is_meta]
        _materialise(self)
        self._initialise_missing(missing, loaded)
        self.tie_weights()
        return report.as_dict()

    def _load_sharded(self, source: Any, mesh: Any, tp_plan: Any, fully_sharded: bool,
                      ignore_mismatched_sizes: bool) -> tuple[Any, dict[str, list]]:
        """Lay the meta-device model out over ``mesh`` (:mod:`modelport_torch.sharding`), then fill each rank's
        local shards from the blocks it reads; returns the model (FSDP2 wraps it in a subclass) and the report."""
        from . import sharding

        model = sharding.lay_out(self, mesh if mesh is not None else sharding.default_mesh(), tp_plan, fully_sharded)
        targets = dict(model.state_dict(keep_vars=True))
        tree = ParameterTree("pt", {n: tuple(p.shape) for n, p in targets.items()}, model.base_model_prefix,
                             type(self).__name__).with_config_facts(model.config)
        filled: set[int] = set()
        report = load_weights(source, tree, None, ignore_mismatched_sizes=ignore_mismatched_sizes,
                              ignore_missing=model._keys_to_ignore_on_load_missing or (),
                              ignore_unexpected=model._keys_to_ignore_on_load_unexpected or (),
                              place_blocks=sharding.place_blocks_into(targets, filled))
        # every weight no block filled (missing, mismatched, ignored alike) holds uninitialised memory until now
        unfilled = sorted(n for n, t in targets.items() if id(t) not in filled)
        if unfilled:
            model._initialise_missing(unfilled, filled)
        return model, report.as_dict()

    def _initialise_missing(self, missing: list[str], loaded: set[int]) -> None:
        owners = {name.rsplit(".", 1)[0] if "." in name else "" for name in missing}
        for owner in owners:
            module = self.get_submodule(owner) if owner else self
            keep = {n: p.detach().clone() for n, p in module.named_parameters(recurse=False) if id(p) in loaded}
            self._init_weights(module)
            with torch.no_grad():
                for n, value in keep.items():
                    getattr(module, n).copy_(value)

    # -- saving -------------------------------------------------------------------------------
    def save_pretrained(
        self,
        save_directory: str | os.PathLike[str],
        is_main_process: bool = True,
        state_dict: dict[str, torch.Tensor] | None = None,
        save_function: Any = None,
        push_to_hub: bool = False,
        max_shard_size: int | str = "5GB",
        safe_serialization: bool = True,
        variant: str | None = None,
        token: str | bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Save ``config.json`` and the weights (safetensors, or ``.bin`` with ``safe_serialization=False``).

        Tied weights are written once in safetensors (the head's alias is left
        out, as transformers does) and re-tied on load. Sharded saves are
        crash-safe (see ``modelport.saving``). ``save_function(state_dict, path)``
        writes each ``.bin`` shard instead of ``torch.save``.
        """
        if save_function is not None and safe_serialization:
            logger.warning("save_function writes .bin files only; it is not used for safetensors (safe_serialization=True)")

        def tensors() -> list:
            self.config.dtype = canonical_dtype(str(self.dtype))
            weights = state_dict if state_dict is not None else self.state_dict()
            if safe_serialization:  # tied weights once: the head's alias is left out, as transformers does
                weights = _first_of_each_storage(weights)
            return lazy_weights({n: t.detach() for n, t in weights.items()}, _ADAPTER)

        writer = None if safe_serialization else functools.partial(write_bin, save=save_function or torch.save)
        return save_pretrained(self, "pt", save_directory, tensors, dict(
            is_main_process=is_main_process, push_to_hub=push_to_hub, max_shard_size=max_shard_size, variant=variant,
            token=token, **kwargs), format="safetensors" if safe_serialization else "bin", tensor_framework="pt",
            architecture=self._architecture_name(), writer=writer, sharded=self._sharded_save(state_dict))

    def _architecture_name(self) -> str:
        """The model's class name, under the wrapper class FSDP2's ``fully_shard`` makes (``FSDPLlamaForCausalLM``)."""
        wrapper = getattr(__import__("sys").modules.get("torch.distributed.fsdp"), "FSDPModule", None)
        return next(c for c in type(self).__mro__ if wrapper is None or not issubclass(c, wrapper)).__name__

    def _sharded_save(self, state_dict: dict[str, torch.Tensor] | None) -> Any:
        """``(tensors, collective)`` when parameters are DTensors: every rank writes its own shards, no gather."""
        from . import sharding

        weights = state_dict if state_dict is not None else self.state_dict(keep_vars=True)  # tied names: one object
        if not sharding.is_sharded(weights):
            return None
        return sharding.global_tensors(weights), sharding.collective()


def _device_of(device_map: Any) -> torch.device | None:
    """The one device a ``device_map`` names (None: stay on the CPU); several devices are refused."""
    if device_map in (None, "cpu"):
        return None
    if device_map == "auto":  # every module fits one device here: the first accelerator, else the CPU
        return torch.device("cuda:0") if torch.cuda.is_available() else None
    if isinstance(device_map, dict):
        devices = set(device_map.values())
        if len(devices) != 1:
            raise UnsupportedKeywordError(
                "a device_map that splits the model over several devices is not supported",
                where="PreTrainedModel.from_pretrained", received=f"device_map={device_map!r}",
                fix="Load on one device ({'': 'cuda:0'} or 'cuda:0'); splitting across devices is a later issue.")
        device_map = devices.pop()
    return torch.device(device_map if not isinstance(device_map, int) else f"cuda:{device_map}")


def _replace_tensor(model: nn.Module, names: list[str], tensor: torch.Tensor) -> torch.Tensor:
    """Make ``tensor`` the parameter (or buffer) under each of ``names`` (one object: tied names stay tied)."""
    new: torch.Tensor | None = None
    for name in names:
        owner, _, leaf = name.rpartition(".")
        module = model.get_submodule(owner) if owner else model
        if leaf in module._parameters:
            old = module._parameters[leaf]
            if new is None:
                new = nn.Parameter(tensor, requires_grad=old.requires_grad if old is not None else True)
            module._parameters[leaf] = new
        else:
            new = tensor if new is None else new
            module._buffers[leaf] = new
    assert new is not None, "no name to replace"
    return new


def _materialise(model: nn.Module) -> None:
    """Give every parameter and buffer still on the meta device CPU memory of its own (as ``to_empty`` does),
    allocated directly: ``to_empty`` goes through PyTorch's reference implementations, whose first use
    imports sympy (0.6 s)."""
    made: dict[int, torch.Tensor] = {}
    for module in model.modules():
        for table in (module._parameters, module._buffers):
            for leaf, tensor in table.items():
                if tensor is None or not tensor.is_meta:
                    continue
                if id(tensor) not in made:
                    empty = torch.empty(tensor.shape, dtype=tensor.dtype)
                    made[id(tensor)] = nn.Parameter(empty, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else empty
                table[leaf] = made[id(tensor)]


def _first_of_each_storage(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The first name of every tensor view; later names of the same view (tied weights) are left out."""
    seen: set[tuple] = set()
    kept = {}
    for name, tensor in weights.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tuple(tensor.stride()))
        if key not in seen:
            seen.add(key)
            kept[name] = tensor
    return kept


def load_sharded_checkpoint(model: nn.Module, folder: str | os.PathLike[str], strict: bool = True, prefer_safe: bool = True):
    """Load a (sharded) checkpoint folder into ``model`` one tensor at a time; returns missing and unexpected keys.

    ``prefer_safe`` picks safetensors over ``.bin`` when both are there. With
    ``strict`` any missing or unexpected key is an error.
    """
    from torch.nn.modules.module import _IncompatibleKeys

    order = ["safetensors", "bin"] if prefer_safe else ["bin", "safetensors"]
    last: Exception | None = None
    for fmt in order:
        try:
            ckpt = Checkpoint.open(folder, format=fmt)
            break
        except CheckpointNotFoundError as exc:
            last = exc
    else:
        assert last is not None
        raise last
    targets = model.state_dict(keep_vars=True)
    tree = ParameterTree("pt", {n: tuple(t.shape) for n, t in targets.items()}, "", type(model).__name__)
    if strict:  # refused before a weight changes
        plan = plan_conversion({n: ckpt.info(n).shape for n in ckpt}, ckpt.framework, tree, "pt", aliases=ckpt.aliases())
        if plan.missing or plan.unexpected:
            raise ConversionError("the checkpoint does not match the model", where=str(folder), expected="the model's keys",
                                  received={"missing": plan.missing[:10], "unexpected": plan.unexpected[:10]},
                                  fix="Pass strict=False to load the tensors that match (the rest are returned).")

    def assign(name: str, array: Any) -> None:
        with torch.no_grad():
            targets[name].copy_(_ADAPTER.from_numpy(array))

    report = load_weights(ckpt, tree, assign)
    return _IncompatibleKeys(report.missing_keys, report.unexpected_keys)
