"""The task heads' losses in PyTorch: the core's rules (:mod:`modelport.models.losses`) over torch operations."""

from __future__ import annotations

import torch

from modelport.models.losses import LossOps

__all__ = ["TORCH_LOSS_OPS"]

TORCH_LOSS_OPS = LossOps(
    log_softmax=lambda x: x.log_softmax(-1),
    take_along_axis=lambda x, idx: x.gather(-1, idx),
    where=torch.where,
    sum=torch.sum,
    mean=torch.mean,
    maximum=lambda x, floor: x.clamp_min(floor),
    clip=lambda x, low, high: x.clamp(low, high),
    softplus=torch.nn.functional.softplus,
    reshape=lambda x, shape: x.reshape(shape),
    to_float=lambda x, like: x.to(like.dtype),
    to_index=lambda x: x.long(),
    is_integer=lambda x: not (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool),
    size=lambda x, axis: x.shape[axis],
)
