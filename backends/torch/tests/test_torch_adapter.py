import numpy as np
import torch

from modelport import adapters


def test_parameters_and_non_contiguous_views_convert_exactly():
    adapter = adapters.get("torch")
    weight = torch.nn.Parameter(torch.randn(4, 6, dtype=torch.bfloat16))
    assert adapters.for_object(weight) is adapter
    transposed = weight.t()
    assert not transposed.is_contiguous()
    back = adapter.to_numpy(transposed)
    assert back.shape == (6, 4)
    assert np.array_equal(back.view(np.uint16), transposed.contiguous().view(torch.int16).numpy().view(np.uint16))


def test_read_only_numpy_arrays_are_accepted_without_warnings(recwarn):
    array = np.arange(6, dtype=np.float32)
    array.setflags(write=False)
    tensor = adapters.get("torch").from_numpy(array)
    assert tensor.tolist() == array.tolist()
    assert not [w for w in recwarn if "not writable" in str(w.message)]
