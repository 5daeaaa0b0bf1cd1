"""Models whose parameters are DTensors over a ``DeviceMesh``, filled from blocks each rank reads itself.

``from_pretrained(path, device_mesh=mesh, tp_plan="auto")`` (tensor parallel) and
``from_pretrained(path, device_mesh=mesh, fully_shard=True)`` (FSDP2) come here;
together, on a 2-D mesh, tensor parallelism takes the last axis and FSDP the first.
The model is laid out while it is still on the meta device (``parallelize_module``
with Megatron's column and row styles, ``fully_shard`` on each repeated block and
the root), then each parameter's local tensor is allocated and filled with the
block of the checkpoint tensor it holds, read by the core's block reader: no rank
reads another rank's bytes, and none holds the whole model.

``tp_plan="auto"`` derives the styles from the core's partition rules
(:mod:`modelport.distributed.partition`): which axis of a weight the architecture
splits decides, by the module's kind (:data:`STYLES`), whether it is column- or
row-parallel. A dict maps module name patterns (``"layers.*.self_attn.q_proj"``)
to ``"colwise"``, ``"rowwise"``, ``"colwise_rep"`` (the output gathered, for LM
heads) or any ``ParallelStyle``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_module, distribute_tensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset
from torch.distributed.tensor.parallel import ColwiseParallel, ParallelStyle, RowwiseParallel, parallelize_module

from modelport.distributed import BlockReader, spec_for
from modelport.distributed.saving import LOCAL, Collective, GlobalTensor
from modelport.errors import ConfigError

from .adapter import TorchAdapter
from .models.gpt2 import Conv1D

__all__ = ["STYLES", "NAMED_STYLES", "default_mesh", "lay_out", "auto_plan", "place_blocks_into", "is_sharded", "global_tensors",
           "collective"]

logger = logging.getLogger(__name__)
_ADAPTER = TorchAdapter()


class _Conv1DColwise(ColwiseParallel):
    """Column parallel for GPT-2's ``Conv1D`` (weight ``[in, out]``): output features split, bias with them."""

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        return distribute_module(module, device_mesh, partial(_distribute, weight=Shard(1), bias=Shard(0)),
                                 partial(self._prepare_input_fn, self.input_layouts, self.desired_input_layouts),
                                 partial(self._prepare_output_fn, self.output_layouts, self.use_local_output))


class _Conv1DRowwise(RowwiseParallel):
    """Row parallel for ``Conv1D``: input features split, the bias whole (added once, after the sum)."""

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        self.desired_input_layouts = (Shard(-1),)
        return distribute_module(module, device_mesh, partial(_distribute, weight=Shard(0), bias=Replicate()),
                                 partial(self._prepare_input_fn, self.input_layouts, self.desired_input_layouts),
                                 partial(self._prepare_output_fn, self.output_layouts, self.use_local_output))


def _distribute(name: str, module: nn.Module, mesh: DeviceMesh, *, weight: Any, bias: Any) -> None:
    for leaf, placement in (("weight", weight), ("bias", bias)):
        param = getattr(module, leaf, None)
        if param is not None:
            module.register_parameter(leaf, nn.Parameter(distribute_tensor(param, mesh, [placement]), param.requires_grad))


#: module kind -> {the weight axis a rule splits: the style that splits it so}; an LM head's column style gathers its output
STYLES: dict[type, dict[int, Callable[[], ParallelStyle]]] = {
    nn.Linear: {0: ColwiseParallel, 1: RowwiseParallel},
    nn.Embedding: {0: partial(RowwiseParallel, input_layouts=Replicate()), 1: ColwiseParallel},
    Conv1D: {1: _Conv1DColwise, 0: _Conv1DRowwise},
}
#: the weight axis each named style of a ``tp_plan`` dict splits, by module kind
NAMED_STYLES: dict[type, dict[str, int]] = {
    nn.Linear: {"colwise": 0, "rowwise": 1},
    nn.Embedding: {"colwise": 1, "rowwise": 0},
    Conv1D: {"colwise": 1, "rowwise": 0},
}


def default_mesh(device_type: str = "cpu") -> DeviceMesh:
    """A 1-D mesh of every process ``torchrun`` started (the process group is started here when it is not yet)."""
    if not dist.is_initialized():
        dist.init_process_group("gloo" if device_type == "cpu" else "nccl")
    return init_device_mesh(device_type, (dist.get_world_size(),))


def _kind(module: nn.Module) -> type | None:
    return next((k for k in type(module).__mro__ if k in STYLES), None)


def _style(module: nn.Module, axis: int, gather: bool) -> ParallelStyle | None:
    kind = _kind(module)
    if kind is None or axis not in STYLES[kind]:
        return None
    style = STYLES[kind][axis]()
    if gather:
        style.output_layouts = (Replicate(),)
    return style


def auto_plan(model: nn.Module, tp_size: int) -> dict[str, ParallelStyle]:
    """The styles the architecture's ``"tp"`` rules imply, module by module (weights a rule leaves whole stay plain)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names: dict[int, list[str]] = {}  # a tied weight has a name per module holding it; a rule for any of them counts
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
    plan: dict[str, ParallelStyle] = {}
    for name, module in model.named_modules():
        weight = module._parameters.get("weight")
        if weight is None:
            continue
        split = [axis for other in names.get(id(weight), [f"{name}.weight"])
                 for axis, entry in enumerate(spec_for("tp", model.config.model_type, other, "pt", tuple(weight.shape),
                                                       {"tp": tp_size})) if entry is not None]
        if not split:
            continue
        style = _style(module, split[0], gather=module is head)
        if style is None:
            logger.warning("%s: no parallel style for a %s; it stays whole on every rank", name, type(module).__name__)
            continue
        plan[name] = style
    return plan


def _check_heads(config: Any, tp_size: int, attention: list[str]) -> None:
    """Split attention projections must leave whole heads on each rank (checked here, not found in a reshape)."""
    for field in ("num_attention_heads", "num_key_value_heads"):
        heads = getattr(config, field, None)
        if attention and isinstance(heads, int) and heads % tp_size:
            raise ConfigError("the attention heads do not split evenly over the tensor-parallel ranks",
                              where=f"{field} = {heads}", expected=f"a multiple of the mesh's {tp_size} ranks",
                              received=heads, fix="Use a tensor-parallel mesh axis that divides the head counts "
                                                  "(a 2-D mesh with fully_shard=True puts the other ranks to use).")


def _user_plan(model: nn.Module, plan: Mapping[str, Any]) -> dict[str, ParallelStyle]:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    styles: dict[str, ParallelStyle] = {}
    for name, module in model.named_modules():
        for pattern, value in plan.items():
            if not (fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, f"*.{pattern}")):
                continue
            if isinstance(value, ParallelStyle):
                styles[name] = value
            else:
                named = str(value).removesuffix("_rep")
                if named not in ("colwise", "rowwise"):
                    raise ConfigError("unknown tensor-parallel style", where=f"tp_plan[{pattern!r}]",
                                      expected=["colwise", "rowwise", "colwise_rep", "a ParallelStyle"], received=value)
                kind = _kind(module)
                if kind is None:
                    raise ConfigError("this kind of module has no tensor-parallel style", where=name,
                                      expected=[k.__name__ for k in STYLES], received=type(module).__name__)
                style = _style(module, NAMED_STYLES[kind][named], gather=str(value).endswith("_rep") or module is head)
                assert style is not None  # every kind names both styles
                styles[name] = style
            break
    return styles


def _meshes(mesh: DeviceMesh, tensor_parallel: bool, fully_sharded: bool) -> tuple[DeviceMesh | None, DeviceMesh | None]:
    """(the tensor-parallel mesh, the FSDP mesh): a 2-D mesh gives its last axis to TP and its first to FSDP."""
    if tensor_parallel and fully_sharded:
        if mesh.ndim != 2:
            raise ConfigError("tensor parallelism with fully_shard needs a 2-D mesh", where="device_mesh",
                              expected="(fsdp, tp) axes", received=f"{mesh.ndim} axes")
        names = mesh.mesh_dim_names
        if not names:
            raise ConfigError("a 2-D mesh needs axis names to be split", where="device_mesh", received="no mesh_dim_names",
                              fix='init_device_mesh(device, (fsdp, tp), mesh_dim_names=("fsdp", "tp"))')
        return mesh[names[1]], mesh[names[0]]
    if mesh.ndim != 1:
        raise ConfigError("a single layout takes a 1-D mesh", where="device_mesh", received=f"{mesh.ndim} axes",
                          fix="Pass a 1-D mesh, or both tp_plan and fully_shard=True with a 2-D mesh.")
    return (mesh if tensor_parallel else None), (mesh if fully_sharded else None)


def lay_out(model: nn.Module, mesh: DeviceMesh, tp_plan: Any, fully_sharded: bool) -> nn.Module:
    """Split the meta-device ``model`` over ``mesh``, then give each rank memory for its own part only."""
    tp_mesh, fsdp_mesh = _meshes(mesh, tp_plan is not None, fully_sharded)
    if tp_plan is not None and tp_mesh is not None:
        styles = auto_plan(model, tp_mesh.size()) if tp_plan in ("auto", "tp") else _user_plan(model, tp_plan)
        _check_heads(model.config, tp_mesh.size(), [name for name in styles if "attn" in name or "attention" in name])
        parallelize_module(model, tp_mesh, styles)
        model.tie_weights()  # one parameter again where the config ties them (the styles made one each)
    if fsdp_mesh is not None:
        from torch.distributed.fsdp import fully_shard

        for block in _repeated_blocks(model):
            fully_shard(block, mesh=fsdp_mesh)
        model = fully_shard(model, mesh=fsdp_mesh)
    model._apply(lambda t: torch.empty_like(t, device="cpu") if t.is_meta else t)  # FSDP2 re-shards what it owns
    return model


def _repeated_blocks(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks: every module held in an ``nn.ModuleList``."""
    return [block for module in model.modules() if isinstance(module, nn.ModuleList) for block in module]


def place_blocks_into(targets: dict[str, torch.Tensor], filled: set[int]) -> Callable[[str, tuple[int, ...], BlockReader], None]:
    """The core loader's ``place_blocks``: each rank copies into its local tensors the blocks they hold (``filled``
    gathers the ids of the tensors filled)."""

    def place(name: str, shape: tuple[int, ...], read: BlockReader) -> None:
        target = targets[name]
        filled.add(id(target))
        with torch.no_grad():
            if isinstance(target, DTensor):
                local_shape, offset = compute_local_shape_and_global_offset(shape, target.device_mesh, target.placements)
                local = target.to_local()
                if tuple(local.shape) != tuple(local_shape):
                    raise ConfigError("a local shard is not the block its placements give", where=name,
                                      expected=list(local_shape), received=list(local.shape))
                if local.numel():
                    _fill(local, read, tuple(slice(o, o + n) for o, n in zip(offset, local_shape)))
            else:
                _fill(target.data, read, None)

    return place


def _fill(target: torch.Tensor, read: BlockReader, index: Any) -> None:
    """The block into ``target``'s own memory: read straight into it when its dtype is numpy's too (one copy, from
    the page cache), else read, then cast into it."""
    if target.is_contiguous() and target.dtype != torch.bfloat16 and target.device.type == "cpu":
        read.read_into(index, target.detach().numpy())  # detach: the same memory, without autograd
    else:
        target.copy_(_tensor(read(index)))


def _tensor(array: np.ndarray) -> torch.Tensor:
    return _ADAPTER.from_numpy(array)


def is_sharded(weights: Mapping[str, torch.Tensor]) -> bool:
    return any(isinstance(t, DTensor) for t in weights.values())


def global_tensors(weights: Mapping[str, torch.Tensor]) -> list[GlobalTensor]:
    """Each weight (tied names once) and the block this rank writes: its local shard when it is the first replica
    (coordinate 0 on every mesh axis that does not split it); whole tensors by rank 0."""
    seen: set[int] = set()
    out = []
    for name, tensor in weights.items():
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        dtype = _ADAPTER.dtype_of(tensor)
        out.append(GlobalTensor(name, dtype, tuple(tensor.shape), partial(_blocks, tensor)))
    return out


def _blocks(tensor: torch.Tensor) -> Any:
    if not isinstance(tensor, DTensor):
        if not dist.is_initialized() or dist.get_rank() == 0:
            yield tuple((0, d) for d in tensor.shape), _ADAPTER.to_numpy(tensor.detach())
        return
    if not _first_replica(tensor):
        return
    shape, offset = compute_local_shape_and_global_offset(tuple(tensor.shape), tensor.device_mesh, tensor.placements)
    if all(shape):
        yield tuple((o, o + n) for o, n in zip(offset, shape)), _ADAPTER.to_numpy(tensor.to_local().detach())


def _first_replica(tensor: DTensor) -> bool:
    """Whether this rank writes its shard of ``tensor``: coordinate 0 on every mesh axis that does not split it, and
    on every axis of the whole mesh that its mesh leaves out (a tensor-parallel submesh is repeated along the others)."""
    mesh = tensor.device_mesh
    coordinate = mesh.get_coordinate()
    if coordinate is None or any(c and p.is_replicate() for c, p in zip(coordinate, tensor.placements)):
        return False
    root = mesh._get_root_mesh() if hasattr(mesh, "_get_root_mesh") else mesh
    if root is mesh or not root.mesh_dim_names:
        return True
    kept = set(mesh.mesh_dim_names or ())
    return all(c == 0 for name, c in zip(root.mesh_dim_names, root.get_coordinate() or ()) if name not in kept)


def collective() -> Collective:
    """The save's collective over the default process group (one process: nothing to share)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return LOCAL

    def total(n: int) -> int:
        value = torch.tensor([n], dtype=torch.int64)
        dist.all_reduce(value)
        return int(value.item())

    def share(value: str) -> str:
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return str(box[0])

    return Collective(dist.get_rank() == 0, total, share)
