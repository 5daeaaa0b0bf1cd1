"""ViT's configuration, with transformers 4.x's attribute names and defaults (google/vit-base-patch16-224), the facts
every adapter shares, and the resizing of the position table for other image sizes, written once.

``interpolate_pos_encoding=True`` lets a model run on images of another size:
transformers resizes the grid of patch position embeddings with PyTorch's
bicubic interpolation (``align_corners=False``, cubic coefficient -0.75,
edges repeated). That resize is linear in the table, so it is two matrices
(:func:`bicubic_resize_matrix`, one per axis) that each adapter applies with
its own einsum: the same numbers in every framework, and gradients flow to
the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import PretrainedConfig
from ..errors import ConfigError
from ..modeling.depth import register_repeated_layers
from ..modeling.ties import register_base_model

__all__ = ["ViTConfig", "VIT_HEADS", "bicubic_resize_matrix", "position_resize_matrices", "patch_grid", "check_pixel_shape"]

#: the class-name suffixes of ViT's base model and head (``ViTModel``, ``ViTForImageClassification``)
VIT_HEADS = ("Model", "ForImageClassification")
_CUBIC = -0.75  # PyTorch's bicubic coefficient (TF's resize uses -0.5: its results differ)


class ViTConfig(PretrainedConfig):
    """Configuration of ViT models (defaults: google/vit-base-patch16-224).

    Example:
        >>> ViTConfig(image_size=32, patch_size=8).pooler_output_size
        768
    """

    model_type = "vit"

    def __init__(
        self,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        image_size: int = 224,
        patch_size: int = 16,
        num_channels: int = 3,
        qkv_bias: bool = True,
        encoder_stride: int = 16,
        pooler_output_size: int | None = None,
        pooler_act: str = "tanh",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.qkv_bias = qkv_bias
        self.encoder_stride = encoder_stride
        self.pooler_output_size = pooler_output_size if pooler_output_size else hidden_size
        self.pooler_act = pooler_act


def _pair(value: Any) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (list, tuple)) else (int(value), int(value))


def patch_grid(config: Any) -> tuple[int, int]:
    """(rows, columns) of patches in the images the model was built for."""
    (height, width), (ph, pw) = _pair(config.image_size), _pair(config.patch_size)
    return height // ph, width // pw


def check_pixel_shape(config: Any, shape: tuple[int, ...], interpolate: bool) -> None:
    """``pixel_values`` are ``[batch, channels, height, width]`` (in every framework, as transformers' ViT takes them)
    with the config's channels, and the config's image size unless the position table is interpolated. Sizes a
    traced signature leaves unknown (``None``) are not checked."""
    if len(shape) != 4 or shape[1] not in (None, config.num_channels):
        raise ConfigError("pixel_values do not have the model's layout", where="pixel_values",
                          expected=f"[batch, {config.num_channels}, height, width]", received=list(shape),
                          fix="Pass images as [batch, channels, height, width] with the config's num_channels.")
    size = _pair(config.image_size)
    known = [(int(d), want) for d, want in zip(shape[2:], size) if d is not None]  # a traced signature may leave sizes open
    if not interpolate and any(d != want for d, want in known):
        raise ConfigError("the images are not the size the model was built for", where="pixel_values",
                          expected=f"{size[0]}x{size[1]}", received=f"{shape[2]}x{shape[3]}",
                          fix="Resize the images, or pass interpolate_pos_encoding=True to resize the position table.")


def _cubic_weights(t: np.ndarray) -> np.ndarray:
    """The four bicubic weights of the samples at offsets -1, 0, 1, 2 for fractions ``t`` (``[n] -> [n, 4]``)."""
    a = _CUBIC

    def near(x: np.ndarray) -> np.ndarray:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: np.ndarray) -> np.ndarray:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def bicubic_resize_matrix(old: int, new: int) -> np.ndarray:
    """``[new, old]`` float64 matrix ``M`` with ``M @ x`` equal to PyTorch's
    ``interpolate(x, size=new, mode="bicubic", align_corners=False)`` along one axis (indices beyond the edges read
    the edge). The identity when ``new == old``."""
    scale = old / new
    source = scale * (np.arange(new) + 0.5) - 0.5
    base = np.floor(source)
    weights = _cubic_weights(source - base)
    matrix = np.zeros((new, old))
    for k in range(4):
        columns = np.clip(base.astype(np.int64) + k - 1, 0, old - 1)
        np.add.at(matrix, (np.arange(new), columns), weights[:, k])
    return matrix


def position_resize_matrices(positions: int, config: Any, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The two matrices that resize a table of ``positions`` rows (the class token's, then a square patch grid) to
    the patch grid of a ``height`` x ``width`` image: ``[new rows, side]`` and ``[new columns, side]``."""
    side = int((positions - 1) ** 0.5)
    (patch_height, patch_width) = _pair(config.patch_size)
    return bicubic_resize_matrix(side, height // patch_height), bicubic_resize_matrix(side, width // patch_width)


register_base_model("ViTModel", "vit")
register_repeated_layers("vit", "num_hidden_layers")
