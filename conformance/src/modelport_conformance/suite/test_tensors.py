"""Tensors of every dtype the adapter declares exact convert to the core's arrays and back, bit for bit.

The truth is the array the test made, never the adapter's own ``to_numpy`` of
something else: each result is compared with a copy of the input taken before
the conversion, and kept while later conversions run, so a result that shares a
reused buffer (or an input the adapter wrote into) shows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelport_conformance.arrays import EDGE_VIEWS, arrays, edge_case, same_bits

# deterministic (a conformance run is repeatable), no example database written anywhere
PROPERTY = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _describe(array: np.ndarray) -> str:
    return f"shape {array.shape}, strides {array.strides}, {'C-contiguous' if array.flags.c_contiguous else 'a view'}"


def _round_trips(adapter, dtype_name: str, inputs: list[np.ndarray]) -> list[str]:
    """Convert every input there and back, then compare every result with its input as it was before."""
    wanted = [np.array(a, copy=True) for a in inputs]
    results = []
    for array in inputs:
        tensor = adapter.from_numpy(array)
        assert adapter.dtype_of(tensor) == dtype_name, (
            f"{adapter.name}: a {dtype_name} array became a {adapter.dtype_of(tensor)} tensor (declared exact: no casts)")
        results.append(adapter.to_numpy(tensor))
    problems = []
    for array, want, got in zip(inputs, wanted, results):
        if not same_bits(np.asarray(array), want):
            problems.append(f"from_numpy changed its input ({_describe(want)})")
        elif not same_bits(got, want):
            problems.append(f"{_describe(array)}: came back as {got.dtype} {got.shape}"
                            + ("" if got.shape != want.shape or got.dtype != want.dtype else " with other values"))
    return problems


@pytest.mark.parametrize("view", sorted(EDGE_VIEWS))
def test_tensor_round_trip_is_exact(adapter, dtype_name, view):
    """0-d, empty, transposed, strided, negative-stride and zero-stride arrays, with NaN payloads, -0.0,
    subnormals and the integer limits in them."""
    problems = _round_trips(adapter, dtype_name, [edge_case(dtype_name, view)])
    assert problems == [], f"{adapter.name}: {dtype_name} {view}: " + "; ".join(problems)


def test_results_stay_valid_after_later_conversions(adapter, dtype_name):
    """A result of ``to_numpy`` must keep its values while more tensors (of the same shape) are converted."""
    base = edge_case(dtype_name, "specials")
    inputs = [np.roll(base, shift) for shift in range(4)]
    problems = _round_trips(adapter, dtype_name, inputs)
    assert problems == [], (f"{adapter.name}: {dtype_name}: an earlier result changed when later tensors were converted "
                            f"(does to_numpy return a reused buffer?): " + "; ".join(problems))


@PROPERTY
@given(data=st.data())
def test_any_array_round_trips_exactly(adapter, dtype_name, data):
    inputs = [data.draw(arrays(dtype_name), label=f"array {i}") for i in range(3)]
    problems = _round_trips(adapter, dtype_name, inputs)
    assert problems == [], f"{adapter.name}: {dtype_name}: " + "; ".join(problems)
