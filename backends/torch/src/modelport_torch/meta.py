"""Building a model on the meta device without running its weight initialisers.

On the meta device an initialiser computes nothing, but PyTorch still routes it through its
reference implementations, whose first use imports ``torch._dynamo``: about 4 s on these machines,
more than loading GPT-2 small takes. The weights are filled from the checkpoint (or initialised
once materialised) anyway, so the ``torch.nn.init`` functions are no-ops while the model is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["build_on_meta"]

#: the in-place initialisers modules call from ``reset_parameters`` (looked up on ``torch.nn.init`` at call time)
_INITIALISERS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                 "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")


@contextlib.contextmanager
def _initialisers_skipped() -> Iterator[None]:
    saved = {name: getattr(nn.init, name) for name in _INITIALISERS if hasattr(nn.init, name)}
    try:
        for name in saved:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def build_on_meta(model_class: Any, *args: Any, **kwargs: Any) -> Any:
    """``model_class(*args, **kwargs)`` with every parameter and buffer on the meta device, initialisers skipped."""
    with torch.device("meta"), _initialisers_skipped():
        return model_class(*args, **kwargs)
