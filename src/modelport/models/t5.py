"""T5's configuration, with transformers 4.x's attribute names and defaults (t5-small), the facts every adapter
shares (ties, computed buffers, depth), and the pieces of its computation that are the same in every framework.

T5 is an encoder-decoder. Attention has no output scaling and no biases; each
stack's first layer turns the distance between a query and a key into one of
``relative_attention_num_buckets`` buckets (:func:`relative_position_buckets`)
and learns a bias per bucket and head, which every later layer of the stack
reuses. Layer norms are RMS norms without a bias. v1.0 checkpoints
(``feed_forward_proj="relu"``) tie the output layer to the embeddings and scale
the decoder's output by ``d_model ** -0.5`` first; v1.1 (``"gated-gelu"``) has
a gated feed-forward layer and its own ``lm_head``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import PretrainedConfig
from ..errors import ConfigError
from ..modeling.ties import TiedWeights, register_ties

__all__ = ["T5Config", "T5_HEADS", "BucketOps", "NUMPY_BUCKET_OPS", "relative_position_buckets", "relative_positions",
           "shift_tokens"]

#: the class-name suffixes of T5's classes (``T5Model``, ``T5ForConditionalGeneration``, ``T5EncoderModel``)
T5_HEADS = ("Model", "ForConditionalGeneration", "EncoderModel")


class T5Config(PretrainedConfig):
    """Configuration of T5 models (defaults: t5-small).

    Example:
        >>> T5Config(feed_forward_proj="gated-gelu").dense_act_fn
        'gelu_new'
    """

    model_type = "t5"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "num_heads", "num_hidden_layers": "num_layers",
                     "head_dim": "d_kv"}

    def __init__(
        self,
        vocab_size: int = 32128,
        d_model: int = 512,
        d_kv: int = 64,
        d_ff: int = 2048,
        num_layers: int = 6,
        num_decoder_layers: int | None = None,
        num_heads: int = 8,
        relative_attention_num_buckets: int = 32,
        relative_attention_max_distance: int = 128,
        dropout_rate: float = 0.1,
        layer_norm_epsilon: float = 1e-6,
        initializer_factor: float = 1.0,
        feed_forward_proj: str = "relu",
        is_encoder_decoder: bool = True,
        use_cache: bool = True,
        pad_token_id: int = 0,
        eos_token_id: int = 1,
        classifier_dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.d_kv = d_kv
        self.d_ff = d_ff
        self.num_layers = num_layers
        self.num_decoder_layers = num_decoder_layers if num_decoder_layers is not None else num_layers
        self.num_heads = num_heads
        self.relative_attention_num_buckets = relative_attention_num_buckets
        self.relative_attention_max_distance = relative_attention_max_distance
        self.dropout_rate = dropout_rate
        self.classifier_dropout = classifier_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_factor = initializer_factor
        self.feed_forward_proj = feed_forward_proj
        self.use_cache = use_cache
        parts = feed_forward_proj.split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise ConfigError("feed_forward_proj is not understood", where="config.json", expected="'ACT' or 'gated-ACT'",
                              received=feed_forward_proj, fix="Use 'relu' (T5 v1.0) or 'gated-gelu' (T5 v1.1).")
        self.dense_act_fn = "gelu_new" if feed_forward_proj == "gated-gelu" else parts[-1]  # transformers' rule
        self.is_gated_act = parts[0] == "gated"
        kwargs.pop("dense_act_fn", None)
        kwargs.pop("is_gated_act", None)
        super().__init__(pad_token_id=pad_token_id, eos_token_id=eos_token_id, is_encoder_decoder=is_encoder_decoder, **kwargs)


@dataclass(frozen=True)
class BucketOps:
    """The array operations :func:`relative_position_buckets` needs, from one framework."""

    abs: Callable[[Any], Any]
    log: Callable[[Any], Any]
    minimum: Callable[[Any, Any], Any]
    maximum: Callable[[Any, Any], Any]
    where: Callable[[Any, Any, Any], Any]
    to_float32: Callable[[Any], Any]
    to_int: Callable[[Any], Any]  # truncation toward zero, as PyTorch's .to(long)


NUMPY_BUCKET_OPS = BucketOps(abs=np.abs, log=np.log, minimum=np.minimum, maximum=np.maximum, where=np.where,
                             to_float32=lambda x: np.asarray(x, np.float32), to_int=lambda x: np.asarray(x).astype(np.int64))


def relative_position_buckets(relative: Any, bidirectional: bool, num_buckets: int, max_distance: int,
                              ops: BucketOps = NUMPY_BUCKET_OPS) -> Any:
    """The bucket of each relative position (``key - query``, integers), as transformers computes it: half the
    buckets exact distances, the rest logarithmic up to ``max_distance``; the encoder's buckets tell left from
    right, the decoder's see only the past. The logarithm is taken in float32, as PyTorch does, so the bucket edges
    are the same in every framework."""
    offset = 0
    if bidirectional:
        num_buckets //= 2
        offset = ops.to_int(ops.where(relative > 0, num_buckets, 0))
        relative = ops.abs(relative)
    else:
        relative = -ops.minimum(relative, 0)
    max_exact = num_buckets // 2
    scaled = ops.log(ops.to_float32(ops.maximum(relative, 1)) / np.float32(max_exact))
    scaled = scaled / np.float32(math.log(max_distance / max_exact)) * np.float32(num_buckets - max_exact)
    large = ops.minimum(max_exact + ops.to_int(scaled), num_buckets - 1)
    return offset + ops.where(relative < max_exact, ops.to_int(relative), large)


def shift_tokens(config: Any) -> tuple[int, int]:
    """``(decoder_start_token_id, pad_token_id)`` for shifting labels right into decoder inputs (transformers'
    ``_shift_right``: the start token first, -100 read as padding); a ConfigError when either is unset."""
    start, pad = config.decoder_start_token_id, config.pad_token_id
    if start is None or pad is None:
        raise ConfigError("labels need the decoder's start and padding tokens to make decoder_input_ids",
                          where="config.json", expected="decoder_start_token_id and pad_token_id (0 in T5)",
                          received=f"{start}, {pad}",
                          fix="Set decoder_start_token_id (T5's is its pad token, 0) or pass decoder_input_ids.")
    return int(start), int(pad)


def relative_positions(first_query: int, queries: int, keys: int) -> np.ndarray:
    """``[queries, keys]`` of ``key - query`` for queries at ``first_query..`` and keys ``0..keys-1``."""
    return np.arange(keys)[None, :] - np.arange(first_query, first_query + queries)[:, None]


# the stacks' embeddings are the shared table; v1.0's output layer is too, unless the config unties it
register_ties("T5ForConditionalGeneration", TiedWeights(
    when_flag={"lm_head.weight": "shared.weight"},
    always={"encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"},
))
register_ties("T5Model", TiedWeights(always={"encoder.embed_tokens.weight": "shared.weight",
                                             "decoder.embed_tokens.weight": "shared.weight"}))
register_ties("T5EncoderModel", TiedWeights(always={"encoder.embed_tokens.weight": "shared.weight"}))
