"""Arrays that test an adapter's tensor conversions: every bit pattern, every shape, every kind of view.

Values are raw bit patterns (so NaN payloads, -0.0, subnormals and the integer
limits occur) plus each dtype's special values; shapes run from 0-d through
empty to 4-d; views are transposes, strided slices and negative strides of a
base array, none of them contiguous. Comparisons are bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from modelport.dtypes import DTYPES

__all__ = ["special_values", "EDGE_VIEWS", "edge_case", "arrays", "same_bits"]


def special_values(dtype_name: str) -> np.ndarray:
    """The values an exact conversion most often gets wrong, as a flat array of ``dtype_name``."""
    info = DTYPES[dtype_name]
    if dtype_name == "bool":
        return np.array([False, True])
    if not info.is_floating:
        limits = np.iinfo(info.numpy)
        return np.array([limits.min, limits.max, 0, 1, -1 if limits.min < 0 else 2], dtype=info.numpy)
    bits = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[info.itemsize]
    width = 8 * info.itemsize
    sign = 1 << (width - 1)
    patterns = [0, sign, 1, sign | 1]  # +0, -0, the smallest subnormal, its negative
    finfo = _finfo(info.numpy)
    values = np.array([finfo.max, -finfo.max, finfo.tiny, 1.0, -1.0], dtype=np.float64).astype(info.numpy)
    if dtype_name not in ("float8_e4m3fn",):  # e4m3fn has no infinities
        values = np.concatenate([values, np.array([np.inf, -np.inf]).astype(info.numpy)])
    nan = np.array([np.nan], dtype=info.numpy).view(bits)[0]
    patterns += [int(nan), int(nan) | sign]  # quiet NaNs of both signs
    if dtype_name != "float8_e4m3fn":
        patterns += [int(nan) ^ (int(nan) & -int(nan)) | 1]  # a NaN with another payload (signalling where the format has them)
    return np.concatenate([values, np.array(patterns, dtype=bits).view(info.numpy)])


def _finfo(dtype: np.dtype) -> object:
    import ml_dtypes

    try:
        return np.finfo(dtype)
    except ValueError:
        return ml_dtypes.finfo(dtype)


def _base(dtype_name: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random bit patterns with the special values spread through them."""
    info = DTYPES[dtype_name]
    count = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    if dtype_name == "bool":
        flat = rng.integers(0, 2, size=count).astype(np.bool_)
    else:
        flat = rng.integers(0, 256, size=count * info.itemsize, dtype=np.uint8).view(info.numpy).copy()
    specials = special_values(dtype_name)
    flat[: min(count, len(specials))] = specials[: min(count, len(specials))]
    return flat.reshape(shape)


#: named views that every adapter must take as it takes a contiguous array: name -> (base shape, view)
EDGE_VIEWS: dict[str, tuple[tuple[int, ...], Callable[[np.ndarray], np.ndarray]]] = {
    "0-d": ((), lambda a: a),
    "empty-0x3": ((0, 3), lambda a: a),
    "empty-3x0": ((3, 0), lambda a: a),
    "one-element": ((1,), lambda a: a),
    "specials": ((13,), lambda a: a),
    "transpose": ((3, 5), lambda a: a.T),
    "strided-slice": ((6, 5), lambda a: a[::2, 1::2]),
    "negative-stride": ((4, 5), lambda a: a[::-1]),
    "negative-stride-inner": ((4, 5), lambda a: a[:, ::-1]),
    "transposed-3d-reversed": ((2, 3, 4), lambda a: a.transpose(2, 0, 1)[::-1, :, ::2]),
    "broadcast-zero-stride": ((1, 5), lambda a: np.broadcast_to(a, (3, 5))),
}


def edge_case(dtype_name: str, view: str) -> np.ndarray:
    shape, make = EDGE_VIEWS[view]
    return make(_base(dtype_name, shape, seed=len(view)))


@st.composite
def arrays(draw: st.DrawFn, dtype_name: str) -> np.ndarray:
    """A view (often not contiguous) of a base array of random bit patterns of ``dtype_name``, 0-d to 4-d."""
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=4)))
    base = _base(dtype_name, shape, seed=draw(st.integers(0, 2**32 - 1)))
    if base.ndim == 0:
        return base
    view = base
    if draw(st.booleans()):
        view = view.transpose(draw(st.permutations(range(view.ndim))))
    slices = tuple(slice(None, None, draw(st.sampled_from([1, 2, -1, -2]))) for _ in range(view.ndim))
    return view[slices]


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """Same dtype, shape and bytes (NaN payloads and signed zeros included)."""
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()
