"""ViT on Keras 3 with transformers 4.x's TF names (``vit/embeddings/patch_embeddings/projection``,
``vit/encoder/layer_._<i>/attention/attention/query``...), outputs and ``interpolate_pos_encoding`` (PyTorch's
bicubic resize, which transformers' own TF ViT does not reproduce)."""

from __future__ import annotations

from typing import Any

from modelport import ViTConfig
from modelport.models.losses import sequence_classification_loss
from modelport.models.vit import check_pixel_shape, patch_grid, position_resize_matrices

from .._keras import keras, tf
from ..layers import activation, dense, expand_head_mask, layer_norm, normal, shape_list
from ..losses import TF_LOSS_OPS
from ..modeling import ModelOutput, TFPreTrainedModel
from .bert import TFBertSelfAttention

__all__ = ["VIT_CLASSES", "TFViTModel", "TFViTForImageClassification", "TFViTPreTrainedModel"]


class TFViTPatchEmbeddings(keras.layers.Layer):
    """One convolution with the patch as kernel and stride, over channels-last images."""

    def __init__(self, config: ViTConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.projection = keras.layers.Conv2D(config.hidden_size, kernel_size=config.patch_size, strides=config.patch_size,
                                              padding="valid", data_format="channels_last",
                                              kernel_initializer=normal(config.initializer_range), name="projection")
        # declared, so that the model builds without a call (see modelport_tf.layers.build_from_declared_shapes)
        object.__setattr__(self.projection, "_modelport_input_shape", (None, None, None, config.num_channels))

    def call(self, pixels_last: Any) -> Any:
        patches = self.projection(pixels_last)
        batch, rows, columns, width = shape_list(patches)
        return tf.reshape(patches, (batch, rows * columns, width))


class TFViTEmbeddings(keras.layers.Layer):
    builds_without_input_shape = True  # the class token and the position table are sized by the config

    def __init__(self, config: ViTConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.patch_embeddings = TFViTPatchEmbeddings(config, name="patch_embeddings")
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def build(self, input_shape: Any = None) -> None:
        rows, columns = patch_grid(self.config)
        init = normal(self.config.initializer_range)
        self.cls_token = self.add_weight(name="cls_token", shape=(1, 1, self.config.hidden_size), initializer=init)
        self.position_embeddings = self.add_weight(name="position_embeddings", shape=(1, rows * columns + 1,
                                                                                      self.config.hidden_size), initializer=init)
        super().build(input_shape)

    def positions(self, height: int, width: int) -> Any:
        """The position table for an image of ``height`` x ``width`` (PyTorch's bicubic resize of the patch grid)."""
        table = self.position_embeddings
        matrices = position_resize_matrices(int(table.shape[1]), self.config, height, width)
        rows, columns = (tf.constant(m, table.dtype) for m in matrices)
        side = int(rows.shape[1])
        grid = tf.reshape(table[:, 1:], (1, side, side, -1))
        resized = tf.reshape(tf.einsum("hi,bijd,wj->bhwd", rows, grid, columns), (1, -1, int(table.shape[-1])))
        return tf.concat([table[:, :1], resized], axis=1)

    def call(self, pixel_values: Any, interpolate_pos_encoding: bool = False, training: bool = False) -> Any:
        check_pixel_shape(self.config, tuple(pixel_values.shape), interpolate_pos_encoding)
        pixels = tf.transpose(tf.cast(pixel_values, self.compute_dtype), (0, 2, 3, 1))  # channels last, as Conv2D on CPU
        patches = self.patch_embeddings(pixels)
        cls = tf.tile(tf.cast(self.cls_token, patches.dtype), (shape_list(patches)[0], 1, 1))
        table = self.positions(*pixel_values.shape[2:]) if interpolate_pos_encoding else self.position_embeddings
        return self.dropout(tf.concat([cls, patches], axis=1) + tf.cast(table, patches.dtype), training=training)


class TFViTSelfAttention(TFBertSelfAttention):
    def __init__(self, config: ViTConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if not config.qkv_bias:
            for name in ("query", "key", "value"):
                setattr(self, name, dense(self.all_head_size, config.initializer_range, name, config.hidden_size, use_bias=False))


class TFViTSelfOutput(keras.layers.Layer):
    def __init__(self, config: ViTConfig, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.hidden_size, config.initializer_range, "dense", width)
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def call(self, hidden: Any, training: bool = False) -> Any:
        return self.dropout(self.dense(hidden), training=training)


class TFViTAttention(keras.layers.Layer):
    def __init__(self, config: ViTConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.self_attention = TFViTSelfAttention(config, name="attention")
        self.dense_output = TFViTSelfOutput(config, config.hidden_size, name="output")

    def call(self, hidden: Any, head_mask: Any, training: bool = False) -> Any:
        context, probs = self.self_attention(hidden, attention_bias=None, head_mask=head_mask, training=training)
        return self.dense_output(context, training=training), probs


class TFViTIntermediate(keras.layers.Layer):
    def __init__(self, config: ViTConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.intermediate_size, config.initializer_range, "dense", config.hidden_size)
        self.act = activation(config.hidden_act)

    def call(self, hidden: Any) -> Any:
        return self.act(self.dense(hidden))


class TFViTLayer(keras.layers.Layer):
    """Pre-norm: attention on ``layernorm_before``, the MLP on ``layernorm_after``, each added to its input."""

    def __init__(self, config: ViTConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention = TFViTAttention(config, name="attention")
        self.intermediate = TFViTIntermediate(config, name="intermediate")
        self.vit_output = TFViTSelfOutput(config, config.intermediate_size, name="output")
        self.layernorm_before = layer_norm(config.layer_norm_eps, "layernorm_before", config.hidden_size)
        self.layernorm_after = layer_norm(config.layer_norm_eps, "layernorm_after", config.hidden_size)

    def call(self, hidden: Any, head_mask: Any, training: bool = False) -> Any:
        attended, probs = self.attention(self.layernorm_before(hidden), head_mask=head_mask, training=training)
        hidden = attended + hidden
        return self.vit_output(self.intermediate(self.layernorm_after(hidden)), training=training) + hidden, probs


class TFViTEncoder(keras.layers.Layer):
    def __init__(self, config: ViTConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = [TFViTLayer(config, name=f"layer_._{i}") for i in range(config.num_hidden_layers)]

    def call(self, hidden: Any, head_mask: Any, training: bool = False) -> Any:
        states, attentions = [hidden], []
        for i, layer in enumerate(self.layer):
            hidden, probs = layer(hidden, head_mask=head_mask[i], training=training)
            states.append(hidden)
            attentions.append(probs)
        return hidden, tuple(states), tuple(attentions)


class TFViTPooler(keras.layers.Layer):
    def __init__(self, config: ViTConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense(config.pooler_output_size, config.initializer_range, "dense", config.hidden_size,
                           activation=activation(config.pooler_act))

    def call(self, hidden: Any) -> Any:
        return self.dense(hidden[:, 0])


class TFViTMainLayer(keras.layers.Layer):
    """The ViT encoder (``vit/...``), shared by the bare model and the classifier."""

    def __init__(self, config: ViTConfig, add_pooling_layer: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = TFViTEmbeddings(config, name="embeddings")
        self.encoder = TFViTEncoder(config, name="encoder")
        self.layernorm = layer_norm(config.layer_norm_eps, "layernorm", config.hidden_size)
        self.pooler = TFViTPooler(config, name="pooler") if add_pooling_layer else None

    def get_input_embeddings(self) -> Any:
        return self.embeddings.patch_embeddings

    def call(self, pixel_values: Any, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, interpolate_pos_encoding: bool = False, training: bool = False) -> ModelOutput:
        hidden = self.embeddings(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, training=training)
        head_mask = expand_head_mask(head_mask, self.config.num_hidden_layers)
        last, states, attentions = self.encoder(hidden, head_mask=head_mask, training=training)
        last = self.layernorm(last)
        pooled = self.pooler(last) if self.pooler is not None else None
        return ModelOutput(last_hidden_state=last, pooler_output=pooled, hidden_states=states if output_hidden_states else None,
                           attentions=attentions if output_attentions else None)


class TFViTPreTrainedModel(TFPreTrainedModel):
    config_class = ViTConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"

    @property
    def dummy_inputs(self) -> dict[str, Any]:
        size = self.config.image_size if isinstance(self.config.image_size, int) else self.config.image_size[0]
        return {"pixel_values": tf.zeros((2, self.config.num_channels, size, size), tf.float32)}

    @property
    def input_signature(self) -> dict[str, Any]:
        return {"pixel_values": tf.TensorSpec((None, self.config.num_channels, None, None), tf.float32, name="pixel_values")}


class TFViTModel(TFViTPreTrainedModel):
    is_base_model = True

    def __init__(self, config: ViTConfig, *inputs: Any, add_pooling_layer: bool = True, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.vit = TFViTMainLayer(config, add_pooling_layer=add_pooling_layer, name="vit")

    def call(self, pixel_values: Any = None, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, interpolate_pos_encoding: bool = False, training: bool = False) -> ModelOutput:
        x = self._unpack(pixel_values, dict(head_mask=head_mask))
        return self.vit(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                        interpolate_pos_encoding=interpolate_pos_encoding, training=training)


class TFViTForImageClassification(TFViTPreTrainedModel):
    """A classifier (or regressor) on the class token; the loss's problem type follows the config or labels."""

    label_names = ("labels",)

    def __init__(self, config: ViTConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.num_labels = config.num_labels
        self.vit = TFViTMainLayer(config, add_pooling_layer=False, name="vit")
        self.classifier = dense(config.num_labels, config.initializer_range, "classifier", config.hidden_size)

    def call(self, pixel_values: Any = None, head_mask: Any = None, output_hidden_states: bool = False,
             output_attentions: bool = False, interpolate_pos_encoding: bool = False, labels: Any = None,
             training: bool = False) -> ModelOutput:
        x = self._unpack(pixel_values, dict(head_mask=head_mask, labels=labels))
        labels = x.pop("labels", None)
        out = self.vit(**x, output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                       interpolate_pos_encoding=interpolate_pos_encoding, training=training)
        logits = self.classifier(out["last_hidden_state"][:, 0, :])
        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels, TF_LOSS_OPS)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


#: ViT's classes by transformers' PyTorch architecture name (the adapter's ``architectures()``)
VIT_CLASSES = {cls.__name__.removeprefix("TF"): cls for cls in (TFViTModel, TFViTForImageClassification)}
