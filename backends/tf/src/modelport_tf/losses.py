"""The task heads' losses in TensorFlow: the core's rules (:mod:`modelport.models.losses`) over TF operations."""

from __future__ import annotations

from modelport.models.losses import LossOps

from ._keras import tf

__all__ = ["TF_LOSS_OPS"]


def _size(x, axis: int):  # type: ignore[no-untyped-def]
    static = x.shape[axis]
    return static if static is not None else tf.shape(x, out_type=tf.int64)[axis]  # unknown while tracing


TF_LOSS_OPS = LossOps(
    log_softmax=lambda x: tf.nn.log_softmax(x, axis=-1),
    take_along_axis=lambda x, idx: tf.gather(x, idx, batch_dims=1),
    where=tf.where,
    sum=tf.reduce_sum,
    mean=tf.reduce_mean,
    maximum=tf.maximum,
    clip=tf.clip_by_value,
    softplus=tf.math.softplus,
    reshape=tf.reshape,
    to_float=lambda x, like: tf.cast(x, like.dtype),
    to_index=lambda x: tf.cast(x, tf.int64),
    is_integer=lambda x: tf.as_dtype(x.dtype).is_integer,
    size=_size,
)
