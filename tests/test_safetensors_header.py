import json
import struct

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from modelport.errors import FormatError
from modelport.formats.safetensors import read_header

from _support.golden import ARCHS

WRITERS = {"pt-safetensors": "pt", "pt-safetensors-bf16": "pt", "tf-safetensors": "tf", "flax-safetensors": "flax"}


def _golden_files(golden):
    for arch in ARCHS:
        for folder in sorted((golden / arch).iterdir()):
            yield from sorted(folder.glob("*.safetensors"))


def test_every_golden_safetensors_header_matches_the_safetensors_library(golden):
    files = list(_golden_files(golden))
    assert len(files) >= 20
    for path in files:
        header = read_header(path)
        with safe_open(path, framework="numpy") as reference:
            assert set(header.tensors) == set(reference.keys()), path
            for name in reference.keys():
                sl = reference.get_slice(name)
                info = header.tensors[name]
                assert info.shape == tuple(sl.get_shape()), (path, name)
                assert info.dtype == {"F32": "float32", "BF16": "bfloat16", "I64": "int64"}[sl.get_dtype()]
            assert header.metadata == reference.metadata()
        writer = WRITERS.get(path.parent.name, path.parent.name.split("-")[0])
        assert header.format == writer, path


def _write(path, header: dict, data: bytes = b"", raw_header: bytes | None = None):
    body = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body)) + body + data)
    return path


def test_valid_handmade_file(tmp_path):
    path = tmp_path / "ok.safetensors"
    save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(0, np.int64)}, path, metadata={"format": "pt"})
    header = read_header(path)
    assert header.tensors["a"].shape == (2, 3) and header.tensors["a"].nbytes == 24 and header.tensors["b"].numel == 0


@pytest.mark.parametrize(
    "header, data, problem",
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, "byte length does not match"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
         b"\0" * 4, "tensors overlap"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "gap before this tensor"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "stray bytes after the last tensor"),
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 10, "data section is truncated"),
        ({"a": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "unsupported safetensors dtype code"),
        ({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, b"\0" * 16, "unsupported safetensors dtype code"),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "non-negative integers"),
        ({"a": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}, b"\0" * 4, "non-negative integers"),
        ({"a": {"dtype": "F32", "shape": [2, 2**63], "data_offsets": [0, 4]}}, b"\0" * 4, "the shape is too large for any array"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4, "begin <= end"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "evil": 1}}, b"\0" * 4, "malformed tensor entry"),
        ({"__metadata__": {"format": 1}}, b"", "__metadata__ must map strings to strings"),
    ],
)
@pytest.mark.trust("A4", "A5", "A6", "A7", "A8", "A9", "A10", "A11", "A13")
def test_malformed_headers_are_refused_naming_file_and_rule(tmp_path, header, data, problem):
    path = _write(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(FormatError) as info:
        read_header(path)
    assert problem in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "too short"),
        (b"\x01\x02\x03\x04", "too short"),
        (struct.pack("<Q", 2**63) + b"{}", "header length is impossible"),
        (struct.pack("<Q", 100) + b"{}", "header length is impossible"),
        (struct.pack("<Q", 2) + b"[]", "must be a JSON object"),
        (struct.pack("<Q", 2) + b"\xff\xfe", "not valid UTF-8"),
        (struct.pack("<Q", 1) + b"{", "invalid JSON"),
    ],
)
@pytest.mark.trust("A1", "A2", "A3")
def test_broken_prefixes_are_refused(tmp_path, content, problem):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=problem):
        read_header(path)


@pytest.mark.trust("A12")
def test_duplicate_tensor_names_are_refused(tmp_path):
    """safetensors itself keeps the last of two equal names silently."""
    raw = b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    path = _write(tmp_path / "dup.safetensors", {}, b"\0" * 4, raw_header=raw)
    with pytest.raises(FormatError, match="'a' appears twice"):
        read_header(path)
