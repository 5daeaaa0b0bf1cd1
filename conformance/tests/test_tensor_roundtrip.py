"""Every installed adapter converts its tensors to numpy and back bit-exact.

The seed of the conformance suite: parametrised over installed adapters and
the dtypes each declares it holds exactly, so ids read ``[torch-bfloat16]``.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelport import adapters
from modelport.dtypes import DTYPES


def _sample(dtype_name: str) -> np.ndarray:
    info = DTYPES[dtype_name]
    rng = np.random.default_rng(7)
    if dtype_name == "bool":
        return rng.integers(0, 2, size=(3, 5)).astype(np.bool_)
    if not info.is_floating:
        limits = np.iinfo(info.numpy)
        return rng.integers(limits.min, limits.max, size=(3, 5), dtype=info.numpy, endpoint=True)
    # Random bit patterns cover subnormals, infinities and every mantissa bit; NaNs
    # are kept out because their payloads are not always preserved by frameworks.
    bits = rng.integers(0, 256, size=(3, 5 * info.itemsize), dtype=np.uint8).view(info.numpy)
    values = bits.copy()
    values[np.isnan(values.astype(np.float64))] = 0
    return values


CASES = [
    pytest.param(name, dtype, id=f"{name}-{dtype}")
    for name in adapters.available()
    if adapters.get(name).framework_available()
    for dtype in adapters.get(name).capabilities.exact_dtypes
]


@pytest.mark.parametrize("adapter_name, dtype_name", CASES)
def test_numpy_round_trip_is_bit_exact(adapter_name, dtype_name):
    adapter = adapters.get(adapter_name)
    original = _sample(dtype_name)
    tensor = adapter.from_numpy(original)
    assert adapter.dtype_of(tensor) == dtype_name
    assert adapters.for_object(tensor) is adapter
    back = adapter.to_numpy(tensor)
    assert back.dtype == original.dtype and back.shape == original.shape
    assert back.tobytes() == original.tobytes()
