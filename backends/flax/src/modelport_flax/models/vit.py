"""ViT in Flax linen with transformers 4.x's parameter tree (``vit/embeddings/patch_embeddings/projection``,
``vit/encoder/layer/<i>/attention/attention/query``...), outputs and ``interpolate_pos_encoding`` (PyTorch's bicubic
resize; transformers' Flax ViT has none)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from modelport import ViTConfig
from modelport.models.vit import check_pixel_shape, patch_grid, position_resize_matrices

from ..losses import SequenceClassificationLoss
from ..modeling import OUTPUT_FIELDS, FlaxPreTrainedModel, ModelOutput, activation
from .bert import FlaxBertSelfAttention, _dense

__all__ = ["VIT_CLASSES", "FlaxViTModel", "FlaxViTForImageClassification", "FlaxViTPreTrainedModel"]


class FlaxViTPatchEmbeddings(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        patch = self.config.patch_size
        self.projection = nn.Conv(self.config.hidden_size, kernel_size=(patch, patch), strides=(patch, patch), padding="VALID",
                                  dtype=self.dtype, kernel_init=jax.nn.initializers.normal(self.config.initializer_range))

    def __call__(self, pixels_last):
        patches = self.projection(pixels_last)
        return patches.reshape(patches.shape[0], -1, patches.shape[-1])


class FlaxViTEmbeddings(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        rows, columns = patch_grid(self.config)
        init = jax.nn.initializers.normal(self.config.initializer_range)
        self.cls_token = self.param("cls_token", init, (1, 1, self.config.hidden_size))
        self.position_embeddings = self.param("position_embeddings", init, (1, rows * columns + 1, self.config.hidden_size))
        self.patch_embeddings = FlaxViTPatchEmbeddings(self.config, dtype=self.dtype)
        self.dropout = nn.Dropout(rate=self.config.hidden_dropout_prob)

    def positions(self, height: int, width: int):
        """The position table for an image of ``height`` x ``width`` (PyTorch's bicubic resize of the patch grid)."""
        table = self.position_embeddings
        matrices = position_resize_matrices(int(table.shape[1]), self.config, height, width)
        rows, columns = (jnp.asarray(m, table.dtype) for m in matrices)
        side = int(rows.shape[1])
        grid = table[:, 1:].reshape(1, side, side, -1)
        resized = jnp.einsum("hi,bijd,wj->bhwd", rows, grid, columns).reshape(1, -1, table.shape[-1])
        return jnp.concatenate([table[:, :1], resized], axis=1)

    def __call__(self, pixel_values, interpolate_pos_encoding: bool = False, deterministic: bool = True):
        check_pixel_shape(self.config, tuple(pixel_values.shape), interpolate_pos_encoding)
        patches = self.patch_embeddings(jnp.transpose(pixel_values, (0, 2, 3, 1)).astype(self.dtype))
        cls = jnp.broadcast_to(self.cls_token.astype(self.dtype), (patches.shape[0], 1, patches.shape[-1]))
        table = self.positions(*pixel_values.shape[2:]) if interpolate_pos_encoding else self.position_embeddings
        return self.dropout(jnp.concatenate([cls, patches], axis=1) + table.astype(self.dtype), deterministic=deterministic)


class FlaxViTSelfAttention(FlaxBertSelfAttention):
    def setup(self) -> None:
        super().setup()
        if not self.config.qkv_bias:
            self.query, self.key, self.value = (_dense(self.config.hidden_size, self.config, self.dtype, use_bias=False)
                                                for _ in range(3))


class FlaxViTSelfOutput(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.hidden_size, self.config, self.dtype)
        self.dropout = nn.Dropout(rate=self.config.hidden_dropout_prob)

    def __call__(self, hidden, deterministic: bool = True):
        return self.dropout(self.dense(hidden), deterministic=deterministic)


class FlaxViTAttention(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.attention = FlaxViTSelfAttention(self.config, dtype=self.dtype)
        self.output = FlaxViTSelfOutput(self.config, dtype=self.dtype)

    def __call__(self, hidden, deterministic: bool = True):
        context, weights = self.attention(hidden, None, deterministic)
        return self.output(context, deterministic), weights


class FlaxViTIntermediate(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.intermediate_size, self.config, self.dtype)

    def __call__(self, hidden):
        return activation(self.config.hidden_act)(self.dense(hidden))


class FlaxViTLayer(nn.Module):
    """Pre-norm: attention on ``layernorm_before``, the MLP on ``layernorm_after``, each added to its input."""

    config: ViTConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.attention = FlaxViTAttention(self.config, dtype=self.dtype)
        self.intermediate = FlaxViTIntermediate(self.config, dtype=self.dtype)
        self.output = FlaxViTSelfOutput(self.config, dtype=self.dtype)
        self.layernorm_before = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype)
        self.layernorm_after = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype)

    def __call__(self, hidden, deterministic: bool = True):
        attended, weights = self.attention(self.layernorm_before(hidden), deterministic)
        hidden = attended + hidden
        return self.output(self.intermediate(self.layernorm_after(hidden)), deterministic) + hidden, weights


class FlaxViTLayerCollection(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        block = nn.remat(FlaxViTLayer, static_argnums=(2,)) if self.gradient_checkpointing else FlaxViTLayer
        self.layers = [block(self.config, name=str(i), dtype=self.dtype) for i in range(self.config.num_hidden_layers)]

    def __call__(self, hidden, deterministic: bool = True):
        states, attentions = [hidden], []
        for layer in self.layers:
            hidden, weights = layer(hidden, deterministic)
            states.append(hidden)
            attentions.append(weights)
        return hidden, tuple(states), tuple(attentions)


class FlaxViTEncoder(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.layer = FlaxViTLayerCollection(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)

    def __call__(self, hidden, deterministic: bool = True):
        return self.layer(hidden, deterministic)


class FlaxViTPooler(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32

    def setup(self) -> None:
        self.dense = _dense(self.config.pooler_output_size, self.config, self.dtype)

    def __call__(self, hidden):
        return activation(self.config.pooler_act)(self.dense(hidden[:, 0]))


class FlaxViTModule(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32
    add_pooling_layer: bool = True
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.embeddings = FlaxViTEmbeddings(self.config, dtype=self.dtype)
        self.encoder = FlaxViTEncoder(self.config, dtype=self.dtype, gradient_checkpointing=self.gradient_checkpointing)
        self.layernorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype)
        if self.add_pooling_layer:
            self.pooler = FlaxViTPooler(self.config, dtype=self.dtype)

    def __call__(self, pixel_values, deterministic: bool = True, output_hidden_states: bool = False,
                 output_attentions: bool = False, interpolate_pos_encoding: bool = False):
        hidden = self.embeddings(pixel_values, interpolate_pos_encoding, deterministic)
        last, states, attentions = self.encoder(hidden, deterministic)
        last = self.layernorm(last)
        out = {"last_hidden_state": last}
        if self.add_pooling_layer:
            out["pooler_output"] = self.pooler(last)
        if output_hidden_states:
            out["hidden_states"] = states
        if output_attentions:
            out["attentions"] = attentions
        return out


class FlaxViTForImageClassificationModule(nn.Module):
    config: ViTConfig
    dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.vit = FlaxViTModule(self.config, dtype=self.dtype, add_pooling_layer=False,
                                 gradient_checkpointing=self.gradient_checkpointing)
        self.classifier = _dense(self.config.num_labels, self.config, self.dtype)

    def __call__(self, pixel_values, deterministic: bool = True, output_hidden_states: bool = False,
                 output_attentions: bool = False, interpolate_pos_encoding: bool = False):
        out = self.vit(pixel_values, deterministic, output_hidden_states, output_attentions, interpolate_pos_encoding)
        logits = self.classifier(out.pop("last_hidden_state")[:, 0, :])
        return {"logits": logits, **{k: v for k, v in out.items() if k in OUTPUT_FIELDS}}


class FlaxViTPreTrainedModel(FlaxPreTrainedModel):
    config_class = ViTConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"

    def dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        size = self.config.image_size
        return {"pixel_values": jnp.zeros((1, self.config.num_channels, size, size), jnp.float32)}

    def _run(self, pixel_values: Any, params: dict | None = None, dropout_rng: Any = None, train: bool = False,
             output_hidden_states: bool = False, output_attentions: bool = False, interpolate_pos_encoding: bool = False,
             **labels: Any) -> ModelOutput:
        labels = self._given_labels(labels)
        rngs = {"dropout": dropout_rng} if dropout_rng is not None else {}
        out = self.module.apply({"params": params if params is not None else self.params}, jnp.asarray(pixel_values), not train,
                                output_hidden_states, output_attentions, interpolate_pos_encoding, rngs=rngs)
        out = ModelOutput({**out, **{name: None for name in OUTPUT_FIELDS if name not in out}})
        if not labels:
            return out
        return ModelOutput({"loss": self.compute_loss(out, None, **labels), **out})


class FlaxViTModel(FlaxViTPreTrainedModel):
    module_class = FlaxViTModule


class FlaxViTForImageClassification(SequenceClassificationLoss, FlaxViTPreTrainedModel):
    """A classifier (or regressor) on the class token; ``labels=`` adds the loss (problem type from the config or the
    labels)."""

    module_class = FlaxViTForImageClassificationModule


#: ViT's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
VIT_CLASSES = {cls.__name__.removeprefix("Flax"): cls for cls in (FlaxViTModel, FlaxViTForImageClassification)}
