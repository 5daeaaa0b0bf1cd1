"""ViT's config facts in the core: the position-table resize matrices and the pixel checks (numpy only; the resize
is compared with PyTorch's interpolate in backends/torch/tests/test_torch_vit.py)."""

from __future__ import annotations

import numpy as np
import pytest

from modelport import AutoConfig, ViTConfig
from modelport.errors import ConfigError
from modelport.models.vit import bicubic_resize_matrix, check_pixel_shape, patch_grid


@pytest.mark.parametrize("size", [1, 2, 4, 14])
def test_resizing_to_the_same_size_is_the_identity(size):
    np.testing.assert_array_equal(bicubic_resize_matrix(size, size), np.eye(size))


@pytest.mark.parametrize("old,new", [(4, 6), (14, 24), (6, 4), (2, 7), (5, 3)])
def test_every_output_is_a_weighted_average_of_the_inputs(old, new):
    matrix = bicubic_resize_matrix(old, new)
    assert matrix.shape == (new, old)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)  # a constant table stays constant


def test_the_config_reads_transformers_names_and_defaults():
    config = AutoConfig.for_model("vit", image_size=32, patch_size=8)
    assert isinstance(config, ViTConfig)
    assert patch_grid(config) == (4, 4)
    assert config.pooler_output_size == config.hidden_size == 768 and config.qkv_bias is True


def test_pixels_of_another_layout_or_size_are_refused_by_name():
    config = ViTConfig(image_size=32, patch_size=8, num_channels=3)
    check_pixel_shape(config, (2, 3, 32, 32), interpolate=False)
    check_pixel_shape(config, (2, 3, 48, 40), interpolate=True)
    with pytest.raises(ConfigError, match="not the size the model was built for") as error:
        check_pixel_shape(config, (2, 3, 48, 40), interpolate=False)
    assert "32x32" in str(error.value) and "48x40" in str(error.value) and "interpolate_pos_encoding" in str(error.value)
    with pytest.raises(ConfigError, match="layout"):
        check_pixel_shape(config, (2, 32, 32, 3), interpolate=False)  # channels last


def test_sizes_a_traced_signature_leaves_open_are_not_checked():
    config = ViTConfig(image_size=32, patch_size=8, num_channels=3)
    check_pixel_shape(config, (None, 3, None, None), interpolate=False)  # a SavedModel's serving signature
    with pytest.raises(ConfigError, match="not the size"):
        check_pixel_shape(config, (None, 3, 40, None), interpolate=False)
