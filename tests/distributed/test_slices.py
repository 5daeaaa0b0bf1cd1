"""Blocks of a stored tensor in a target layout: the values, and the bytes read to get them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelport.distributed import BlockReader, box_of, recording_reads
from modelport.errors import ConversionError
from modelport.formats.base import FileBytes

HEADER = 24  # bytes before the tensor, so that offsets are not zero


def _stored(tmp_path, array: np.ndarray, name: str = "tensor.bin") -> FileBytes:
    path = tmp_path / name
    path.write_bytes(b"\xff" * HEADER + array.tobytes())
    return FileBytes(str(path), HEADER, array.nbytes)


def _ids(shape: tuple[int, ...]) -> np.ndarray:
    """Each element holds its own flat position, so a block's values say which stored elements it came from."""
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


def _elements_read(reads, source: FileBytes) -> set[int]:
    """The stored elements whose bytes the reads covered (float32: 4 bytes each)."""
    seen: set[int] = set()
    for read in reads:
        assert read.path == source.path
        assert (read.offset - source.offset) % 4 == 0 and read.nbytes % 4 == 0
        first = (read.offset - source.offset) // 4
        seen.update(range(first, first + read.nbytes // 4))
    return seen


@st.composite
def _cases(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    order = tuple(draw(st.permutations(range(ndim))))
    target = tuple(shape[axis] for axis in order)
    box = []
    for size in target:
        start = draw(st.integers(0, size - 1))
        box.append(slice(start, draw(st.integers(start + 1, size))))
    return shape, order, tuple(box)


@settings(max_examples=150, deadline=None)
@given(_cases())
def test_a_block_holds_the_transposed_tensors_values_and_only_its_bytes_are_read(tmp_path_factory, case):
    shape, order, index = case
    stored = _ids(shape)
    source = _stored(tmp_path_factory.mktemp("block"), stored)
    target_shape = tuple(shape[axis] for axis in order)
    reader = BlockReader("w", "float32", shape, target_shape, order, source, whole=lambda: pytest.fail("read whole"))
    with recording_reads() as reads:
        block = reader(index)
    expected = stored.transpose(order)[index]
    np.testing.assert_array_equal(block, expected)  # exact: bytes are moved, not computed
    assert _elements_read(reads, source) == {int(v) for v in expected.reshape(-1)}
    assert sum(r.nbytes for r in reads) == expected.nbytes  # no byte twice


def test_a_row_block_is_one_read_and_a_column_block_one_read_per_row(tmp_path):
    stored = _ids((8, 6))
    source = _stored(tmp_path, stored)
    reader = BlockReader("w", "float32", (8, 6), (8, 6), None, source, whole=lambda: pytest.fail("read whole"))
    with recording_reads() as rows:
        reader((slice(2, 6), slice(None)))
    with recording_reads() as columns:
        reader((slice(None), slice(0, 3)))
    assert [(r.offset, r.nbytes) for r in rows] == [(HEADER + 2 * 24, 4 * 24)]
    assert [(r.offset, r.nbytes) for r in columns] == [(HEADER + row * 24, 12) for row in range(8)]


def test_a_tf_row_bias_gives_blocks_of_a_flat_one(tmp_path):
    stored = _ids((1, 10))  # TF's [1, n] bias, loaded where the model has [n]
    source = _stored(tmp_path, stored)
    reader = BlockReader("b", "float32", (1, 10), (10,), None, source, whole=lambda: pytest.fail("read whole"))
    np.testing.assert_array_equal(reader((slice(5, 10),)), stored[0, 5:])
    flat = _stored(tmp_path, _ids((10,)), "flat.bin")
    back = BlockReader("b", "float32", (10,), (1, 10), None, flat, whole=lambda: pytest.fail("read whole"))
    np.testing.assert_array_equal(back((slice(None), slice(0, 4))), _ids((10,))[None, :4])


def test_a_block_asked_for_twice_is_read_once(tmp_path):
    stored = np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6)
    source = _stored(tmp_path, stored)
    reader = BlockReader("w", "float32", (4, 6), (6, 4), (1, 0), source, whole=lambda: pytest.fail("read whole"))
    with recording_reads() as reads:
        first = reader((slice(0, 3), slice(None)))
        second = reader((slice(0, 3), slice(None)))
    assert first is second and len(reads) == 4  # one read per stored row of the transposed block
    np.testing.assert_array_equal(first, stored.T[:3])


def test_read_into_fills_the_targets_memory_straight_or_through_a_cast(tmp_path):
    stored = np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6)
    source = _stored(tmp_path, stored)
    reader = BlockReader("w", "float32", (4, 6), (4, 6), None, source, whole=lambda: pytest.fail("read whole"))
    target = np.zeros((4, 6), dtype=np.float32)
    with recording_reads() as reads:
        reader.read_into((slice(1, 3),), target[1:3])
    np.testing.assert_array_equal(target[1:3], stored[1:3])
    assert not target[0].any() and not target[3].any() and len(reads) == 1
    half = np.zeros((2, 6), dtype=np.float16)  # another dtype: read, then cast into it
    reader.read_into((slice(2, 4),), half)
    np.testing.assert_array_equal(half, stored[2:4].astype(np.float16))


def test_a_tensor_without_plain_bytes_is_read_whole_once(tmp_path):
    calls = []
    whole = _ids((4, 4))

    def read_whole() -> np.ndarray:
        calls.append(1)
        return whole

    reader = BlockReader("w", "float32", (4, 4), (4, 4), None, None, whole=read_whole)
    np.testing.assert_array_equal(reader((slice(0, 2),)), whole[:2])
    np.testing.assert_array_equal(reader((slice(2, 4),)), whole[2:])
    assert len(calls) == 1


def test_box_of_reads_framework_indices_and_refuses_strides():
    assert box_of((slice(None), slice(2, 4)), (3, 8), where="w") == ((0, 3), (2, 4))
    assert box_of(None, (3, 8), where="w") == ((0, 3), (0, 8))
    assert box_of((1,), (3, 8), where="w") == ((1, 2), (0, 8))
    with pytest.raises(ConversionError, match="contiguous"):
        box_of((slice(0, 8, 2),), (8,), where="w")
    with pytest.raises(ConversionError, match="more axes"):
        box_of((slice(None), slice(None)), (8,), where="w")


def test_a_truncated_file_is_a_format_error_naming_the_tensor(tmp_path):
    from modelport.errors import FormatError

    source = _stored(tmp_path, _ids((4, 4)))
    short = FileBytes(source.path, source.offset, source.nbytes * 2)
    reader = BlockReader("layer.weight", "float32", (8, 4), (8, 4), None, short, whole=lambda: pytest.fail("read whole"))
    with pytest.raises(FormatError, match="ends before") as raised:
        reader((slice(6, 8),))
    assert "layer.weight" in str(raised.value)
