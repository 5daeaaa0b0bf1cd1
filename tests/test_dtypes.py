import ml_dtypes
import numpy as np
import pytest

from modelport.dtypes import DTYPES, canonical_dtype, dtype_info, from_safetensors_code, numpy_dtype
from modelport.errors import DtypeError


@pytest.mark.parametrize(
    "spelling, name",
    [
        ("bf16", "bfloat16"), ("BF16", "bfloat16"), ("torch.bfloat16", "bfloat16"),
        ("half", "float16"), ("fp16", "float16"), ("torch.float16", "float16"), ("torch.half", "float16"),
        ("float", "float32"), ("fp32", "float32"), ("F32", "float32"), ("tf.float32", "float32"),
        ("double", "float64"), ("long", "int64"), ("torch.int64", "int64"), ("int", "int32"),
        ("byte", "uint8"), ("bool", "bool"), ("F8_E4M3", "float8_e4m3fn"), ("fp8_e5m2", "float8_e5m2"),
        (np.float32, "float32"), (np.dtype("int8"), "int8"), (ml_dtypes.bfloat16, "bfloat16"),
        (np.dtype(ml_dtypes.float8_e4m3fn), "float8_e4m3fn"), (np.bool_, "bool"),
    ],
)
def test_spellings_map_to_canonical_names(spelling, name):
    assert canonical_dtype(spelling) == name


@pytest.mark.parametrize("bad", ["float128", "f128", "load", "", "torch.complex64", 3, None, object()])
def test_unknown_dtypes_are_clear_errors(bad):
    with pytest.raises(DtypeError) as info:
        canonical_dtype(bad)
    assert "unknown dtype" in str(info.value) and "bfloat16" in str(info.value)


def test_table_sizes_codes_and_numpy_types_agree():
    expected_sizes = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1,
                      "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
    assert {n: d.itemsize for n, d in DTYPES.items()} == expected_sizes
    for name, info in DTYPES.items():
        assert from_safetensors_code(info.safetensors_code) is info
        assert info.numpy.itemsize == info.itemsize
        assert canonical_dtype(info.numpy) == name


def test_bfloat16_is_held_exactly_never_upcast():
    assert numpy_dtype("bf16") == np.dtype(ml_dtypes.bfloat16)
    values = np.array([1.0078125, -3.140625, 65280.0], dtype=ml_dtypes.bfloat16)
    raw = values.view(np.uint16).copy()
    assert np.array_equal(values.astype(numpy_dtype("bfloat16")).view(np.uint16), raw)
    assert dtype_info("bfloat16").is_floating and not dtype_info("int64").is_floating


@pytest.mark.parametrize("code", ["f32", "F128", "F4", "", 7])
def test_safetensors_codes_are_case_sensitive_and_checked(code):
    with pytest.raises(DtypeError, match="unsupported safetensors dtype code"):
        from_safetensors_code(code, where="x.safetensors")
