"""The core's bicubic resize matrices (ViT's ``interpolate_pos_encoding`` in every adapter) against PyTorch's own
``interpolate``: the reference transformers' ViT uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modelport.models.vit import bicubic_resize_matrix


@pytest.mark.parametrize("old,rows,columns", [(4, 6, 6), (4, 6, 5), (14, 24, 20), (6, 4, 7), (2, 7, 3), (5, 3, 3)])
def test_resize_matrices_equal_torch_bicubic_interpolate(old, rows, columns):
    grid = torch.randn(1, 8, old, old, dtype=torch.float64, generator=torch.Generator().manual_seed(old))
    want = torch.nn.functional.interpolate(grid, size=(rows, columns), mode="bicubic", align_corners=False).numpy()
    got = np.einsum("hi,ncij,wj->nchw", bicubic_resize_matrix(old, rows), grid.numpy(), bicubic_resize_matrix(old, columns))
    assert np.abs(got - want).max() <= 1e-13
