"""ViT in PyTorch with transformers 4.x's names (``vit.embeddings.patch_embeddings.projection``,
``vit.encoder.layer.<i>.attention.attention.query``...), outputs and ``interpolate_pos_encoding``."""

from __future__ import annotations

import torch
from torch import nn

from modelport import ViTConfig
from modelport.models.losses import sequence_classification_loss
from modelport.models.vit import check_pixel_shape, patch_grid, position_resize_matrices

from ..losses import TORCH_LOSS_OPS
from ..modeling import ModelOutput, PreTrainedModel, activation
from .bert import BertSelfAttention

__all__ = ["VIT_CLASSES", "ViTModel", "ViTForImageClassification", "ViTPreTrainedModel"]


class ViTPatchEmbeddings(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=config.patch_size,
                                    stride=config.patch_size)

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        rows, columns = patch_grid(config)
        self.config = config
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.patch_embeddings = ViTPatchEmbeddings(config)
        self.position_embeddings = nn.Parameter(torch.zeros(1, rows * columns + 1, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def positions(self, height: int, width: int):
        """The position table for an image of ``height`` x ``width`` (the patch grid resized bicubically, as
        transformers does; the class token's row as it is)."""
        table = self.position_embeddings
        matrices = position_resize_matrices(int(table.shape[1]), self.config, height, width)
        rows, columns = (torch.as_tensor(m, dtype=table.dtype, device=table.device) for m in matrices)
        side = int(rows.shape[1])
        grid = table[:, 1:].reshape(1, side, side, -1)
        resized = torch.einsum("hi,bijd,wj->bhwd", rows, grid, columns).reshape(1, -1, table.shape[-1])
        return torch.cat([table[:, :1], resized], dim=1)

    def forward(self, pixel_values, interpolate_pos_encoding: bool = False):
        check_pixel_shape(self.config, tuple(pixel_values.shape), interpolate_pos_encoding)
        patches = self.patch_embeddings(pixel_values.to(self.cls_token.dtype))
        x = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        table = self.positions(*pixel_values.shape[2:]) if interpolate_pos_encoding else self.position_embeddings
        return self.dropout(x + table)


class ViTSelfAttention(BertSelfAttention):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__(config)
        if not config.qkv_bias:
            self.query, self.key, self.value = (nn.Linear(config.hidden_size, self.all_head_size, bias=False) for _ in range(3))


class ViTSelfOutput(nn.Module):
    def __init__(self, config: ViTConfig, width: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden):
        return self.dropout(self.dense(hidden))


class ViTAttention(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.attention = ViTSelfAttention(config)
        self.output = ViTSelfOutput(config, config.hidden_size)

    def forward(self, hidden, head_mask=None):
        context, probs = self.attention(hidden, None, head_mask)
        return self.output(context), probs


class ViTIntermediate(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)

    def forward(self, hidden):
        return self.act(self.dense(hidden))


class ViTLayer(nn.Module):
    """Pre-norm: attention on ``layernorm_before``, the MLP on ``layernorm_after``, each added to its input."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.attention = ViTAttention(config)
        self.intermediate = ViTIntermediate(config)
        self.output = ViTSelfOutput(config, config.intermediate_size)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden, head_mask=None):
        attended, probs = self.attention(self.layernorm_before(hidden), head_mask)
        hidden = attended + hidden
        return self.output(self.intermediate(self.layernorm_after(hidden))) + hidden, probs


class ViTEncoder(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(ViTLayer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, hidden, head_mask=None):
        states, attentions = [hidden], []
        for i, layer in enumerate(self.layer):
            layer_head_mask = head_mask[i] if head_mask is not None else None
            if self.gradient_checkpointing and self.training:
                hidden, probs = torch.utils.checkpoint.checkpoint(layer, hidden, layer_head_mask, use_reentrant=False)
            else:
                hidden, probs = layer(hidden, layer_head_mask)
            states.append(hidden)
            attentions.append(probs)
        return hidden, tuple(states), tuple(attentions)


class ViTPooler(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.pooler_output_size)
        self.act = activation(config.pooler_act)

    def forward(self, hidden):
        return self.act(self.dense(hidden[:, 0]))


class ViTPreTrainedModel(PreTrainedModel):
    config_class = ViTConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _no_split_modules = ["ViTEmbeddings", "ViTLayer"]


class ViTModel(ViTPreTrainedModel):
    """The bare ViT encoder: ``last_hidden_state`` (after the final layer norm) and ``pooler_output``."""

    def __init__(self, config: ViTConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = ViTEmbeddings(config)
        self.encoder = ViTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = ViTPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.patch_embeddings

    def forward(self, pixel_values, head_mask=None, output_hidden_states=False, output_attentions=False,
                interpolate_pos_encoding=False):
        hidden = self.embeddings(pixel_values, interpolate_pos_encoding)
        head_mask = self.get_head_mask(head_mask, self.config.num_hidden_layers)
        last, states, attentions = self.encoder(hidden, head_mask)
        last = self.layernorm(last)
        pooled = self.pooler(last) if self.pooler is not None else None
        return ModelOutput(last_hidden_state=last, pooler_output=pooled, hidden_states=states if output_hidden_states else None,
                           attentions=attentions if output_attentions else None)


class ViTForImageClassification(ViTPreTrainedModel):
    """A classifier (or regressor) on the class token; the loss's problem type follows the config or labels."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.vit = ViTModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    def forward(self, pixel_values, head_mask=None, labels=None, output_hidden_states=False, output_attentions=False,
                interpolate_pos_encoding=False):
        out = self.vit(pixel_values, head_mask, output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                       interpolate_pos_encoding=interpolate_pos_encoding, return_dict=True)
        logits = self.classifier(out.last_hidden_state[:, 0, :])
        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels, TORCH_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


#: ViT's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
VIT_CLASSES = {cls.__name__: cls for cls in (ViTModel, ViTForImageClassification)}
