"""Tensors of every dtype the adapter declares exact convert to the core's arrays and back, bit for bit."""

from __future__ import annotations

import numpy as np

from modelport.dtypes import DTYPES
from modelport_conformance.samples import sample_array


def test_tensor_round_trip_is_exact(adapter, dtype_name):
    values = sample_array(dtype_name)
    tensor = adapter.from_numpy(values)
    assert adapter.dtype_of(tensor) == dtype_name, (
        f"{adapter.name}: a {dtype_name} array became a {adapter.dtype_of(tensor)} tensor (declared exact: no casts)")
    back = adapter.to_numpy(tensor)
    assert back.dtype == DTYPES[dtype_name].numpy, f"{adapter.name}: {dtype_name} came back as {back.dtype}"
    assert back.shape == values.shape, f"{adapter.name}: shape {values.shape} came back as {back.shape}"
    assert back.tobytes() == values.tobytes(), f"{adapter.name}: {dtype_name} values changed in the round trip"
    assert np.array_equal(adapter.to_numpy(adapter.from_numpy(values[:0])), values[:0])
