"""TF and Flax names and layouts map to PyTorch's by rule: checked on the golden checkpoints.

The golden TF and Flax files hold the same weights as the PyTorch ones
(transformers converted them with ``from_pt=True``), so after the rules every
tensor must equal its PyTorch counterpart bit for bit.
"""

import numpy as np
import pytest

from modelport.checkpoint import Checkpoint
from modelport.conversion import canonical_name, reconcile_shape, strip_or_add_prefix, to_canonical
from modelport.errors import ConversionError

from _support.golden import ARCHS

PREFIX = {"bert": "bert", "bert-mlm": "bert", "gpt2": "transformer"}
SOURCES = ["tf-h5", "tf-h5-sharded", "tf-safetensors", "flax-msgpack", "flax-msgpack-sharded", "flax-safetensors"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", SOURCES)
def test_rules_turn_golden_tf_and_flax_into_the_pytorch_tensors(golden, arch, source):
    pt = Checkpoint.open(golden / arch / "pt-safetensors")
    other = Checkpoint.open(golden / arch / source)
    converted = dict(to_canonical(name, other[name], other.framework) for name in other)
    mapping = strip_or_add_prefix(list(converted), set(pt), PREFIX[arch])
    matched = {mapping[n]: a for n, a in converted.items()}
    assert set(matched) <= set(pt), sorted(set(matched) - set(pt))
    # PyTorch-only names are buffers or heads tied to the embeddings, which TF/Flax do not store
    assert all(n.endswith(("position_ids", "decoder.weight", "decoder.bias", "lm_head.weight")) for n in set(pt) - set(matched))
    for name, array in matched.items():
        expected = pt[name]
        fitted = reconcile_shape(name, array, expected.shape)
        assert fitted.dtype == expected.dtype and fitted.tobytes() == expected.tobytes(), name


@pytest.mark.parametrize(
    "name, framework, expected",
    [
        ("bert/encoder/layer_._0/attention/self/query/kernel:0", "tf", "bert.encoder.layer.0.attention.self.query.weight"),
        ("mlm___cls/predictions/transform/LayerNorm/gamma:0", "tf", "cls.predictions.transform.LayerNorm.weight"),
        ("bert/embeddings/position_embeddings/embeddings:0", "tf", "bert.embeddings.position_embeddings.weight"),
        ("resnet/bn/moving_variance:0", "tf", "resnet.bn.running_var"),
        ("encoder/layer/3/output/LayerNorm/scale", "flax", "encoder.layer.3.output.LayerNorm.weight"),
        ("embeddings.word_embeddings.embedding", "flax", "embeddings.word_embeddings.weight"),
        ("batch_stats/bn/mean", "flax", "bn.running_mean"),
        ("params/conv/kernel", "flax", "conv.weight"),
        ("anything.goes", "pt", "anything.goes"),
    ],
)
def test_name_rules(name, framework, expected):
    assert canonical_name(name, framework) == expected


def test_convolution_kernels_and_shape_reconciliation():
    kernel = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # (h, w, in, out)
    _, pt = to_canonical("conv/kernel:0", kernel, "tf")
    assert pt.shape == (5, 4, 2, 3) and pt[4, 3, 1, 2] == kernel[1, 2, 3, 4]
    assert reconcile_shape("b", np.ones((1, 6)), (6,)).shape == (6,)
    with pytest.raises(ConversionError, match="does not fit the target"):
        reconcile_shape("b", np.ones((2, 3)), (3, 2))


def test_unknown_framework():
    with pytest.raises(ConversionError):
        canonical_name("x", "mxnet")


@pytest.mark.trust("J5")
@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("shape", [(1000, 3000), (129, 4097), (4, 5), (2048, 128), (300, 2049)])
def test_transposed_copies_are_exact_c_order_and_aligned(shape, dtype):
    from modelport.formats._buffers import aligned_copy, is_aligned

    array = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    for view in (array.T, array, array[:, ::2]):
        copy = aligned_copy(view)
        assert is_aligned(copy) and copy.shape == view.shape and copy.tobytes() == np.ascontiguousarray(view).tobytes()
