"""GGUF files (llama.cpp): a bounded header parser, dequantization through the ``gguf`` package, transformers' names.

The header is parsed here, every count and length checked against the bytes
left in the file before anything is allocated, so a hostile file costs at most
its own size (llama.cpp's own reader trusts the counts). Tensor data is
dequantized one tensor at a time by ``gguf.quants.dequantize`` (llama.cpp's
reference code, which transformers 4.x uses too), then renamed to
transformers' PyTorch names and, where llama.cpp permuted the rows of the
query and key projections for its rotary layout, permuted back. The names and
the permutation are registered data per architecture (:data:`ARCHITECTURES`).
"""

from __future__ import annotations

import math
import mmap
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..dtypes import DTYPES
from ..errors import FormatError
from .base import TensorInfo, read_array

__all__ = ["MAGIC", "GGUFHeader", "GGUFTensor", "GGUFArchitecture", "ARCHITECTURES", "register_architecture", "read_header",
           "read_tensor", "config_values", "transformers_names", "permutations"]

MAGIC = b"GGUF"
VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # ggml tensors have at most four dimensions

# value type id -> (struct code, size); 8 (string) and 9 (array) are read apart
_SCALARS = {0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4), 6: ("<f", 4), 7: ("<?", 1),
            10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8)}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1", 10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9
#: tensor types whose bytes are plain arrays: no dequantization (ggml type id -> canonical dtype)
_PLAIN = {0: "float32", 1: "float16", 30: "bfloat16"}


def _quant_sizes() -> dict[int, tuple[int, int, str]]:
    """ggml type id -> (elements per block, bytes per block, name), from the ``gguf`` package."""
    gguf = _gguf()
    return {int(t): (block, size, t.name) for t, (block, size) in gguf.GGML_QUANT_SIZES.items()}


def _gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:
        raise FormatError("reading GGUF files needs the gguf package (llama.cpp's reader)", where="modelport.formats.gguf",
                          fix="pip install 'modelport[gguf]'") from exc
    return gguf


#: the quantized types modelport dequantizes (others are refused by name): llama.cpp's common ones
SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")


@dataclass(frozen=True)
class GGUFTensor:
    name: str  # llama.cpp's name
    shape: tuple[int, ...]  # numpy order (ggml lists the fastest dimension first)
    type_id: int
    type_name: str
    offset: int  # absolute, in the file
    nbytes: int  # stored bytes


@dataclass
class GGUFHeader:
    path: str
    version: int
    metadata: dict[str, Any]
    tensors: dict[str, GGUFTensor]
    data_start: int


class _Cursor:
    """Reads little-endian values from a mapped file, never past its end."""

    def __init__(self, data: Any, where: str) -> None:
        self.data, self.at, self.where = data, 0, where

    def left(self) -> int:
        return len(self.data) - self.at

    def take(self, n: int, what: str) -> Any:
        if n < 0 or n > self.left():
            raise FormatError(f"the file ends inside {what}", where=self.where, expected=f"{n} bytes at offset {self.at}",
                              received=f"{self.left()} bytes left", fix="The file is truncated or damaged; download it again.")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def scalar(self, type_id: int, what: str) -> Any:
        code, size = _SCALARS[type_id]
        return struct.unpack(code, self.take(size, what))[0]

    def count(self, what: str, least_each: int) -> int:
        """A uint64 count of items that take at least ``least_each`` bytes each: bounded by the bytes left."""
        n = self.scalar(10, what)
        if n * least_each > self.left():
            raise FormatError(f"{what} is larger than the file", where=self.where, received=n,
                              expected=f"at most {self.left() // max(least_each, 1)} (the bytes left)",
                              fix="The file is damaged or crafted; download it again.")
        return int(n)

    def string(self, what: str) -> str:
        raw = self.take(self.count(f"the length of {what}", 1), what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{what} is not UTF-8", where=self.where, received=bytes(raw[:40])) from exc

    def value(self, type_id: int, what: str) -> Any:
        if type_id == _STRING:
            return self.string(what)
        if type_id == _ARRAY:
            item = self.scalar(4, f"the item type of {what}")
            if item == _ARRAY:
                raise FormatError("nested arrays are not used by GGUF models", where=self.where, received=what)
            if item == _STRING:
                return [self.string(f"an item of {what}") for _ in range(self.count(f"the length of {what}", 8))]
            if item not in _NUMPY:
                raise FormatError("unknown metadata value type", where=self.where, received=f"{what}: {item}")
            n = self.count(f"the length of {what}", _SCALARS[item][1])
            values = np.frombuffer(self.take(n * _SCALARS[item][1], what), dtype=_NUMPY[item])
            return values.astype(bool) if item == 7 else values
        if type_id not in _SCALARS:
            raise FormatError("unknown metadata value type", where=self.where, received=f"{what}: {type_id}")
        return self.scalar(type_id, what)


def read_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """Parse and check a GGUF file's header: magic, version, metadata, tensor table, alignment, bounds."""
    where = os.fspath(path)
    with open(where, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 24:
            raise FormatError("too short to be a GGUF file", where=where, received=f"{size} bytes", expected="at least 24")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _parse(data, size, where)  # slices of an mmap are copies: nothing pins the map when an error escapes


def _parse(data: mmap.mmap, size: int, where: str) -> GGUFHeader:
    cursor = _Cursor(data, where)
    magic = cursor.take(4, "the magic")
    if magic != MAGIC:
        raise FormatError("not a GGUF file", where=where, expected=MAGIC, received=magic)
    version = cursor.scalar(4, "the version")
    if version not in VERSIONS:
        raise FormatError("unsupported GGUF version", where=where, expected=" or ".join(map(str, VERSIONS)), received=version,
                          fix="Convert the file with a current llama.cpp (version 3).")
    n_tensors = cursor.count("the tensor count", 24)  # name length, n_dims, type, offset
    n_keys = cursor.count("the metadata count", 13)  # key length, value type, one byte of value
    metadata: dict[str, Any] = {}
    for _ in range(n_keys):
        key = cursor.string("a metadata key")
        if key in metadata:
            raise FormatError("a metadata key appears twice", where=where, received=key)
        metadata[key] = cursor.value(cursor.scalar(4, f"the type of {key}"), key)
    tensors = _tensor_table(cursor, n_tensors, where)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise FormatError("general.alignment must be a power of two", where=where, received=alignment)
    data_start = -(-cursor.at // alignment) * alignment
    return GGUFHeader(where, version, metadata, _placed(tensors, data_start, alignment, size, where), data_start)




def _tensor_table(cursor: _Cursor, count: int, where: str) -> list[tuple[str, tuple[int, ...], int, int]]:
    table, seen = [], set()
    for _ in range(count):
        name = cursor.string("a tensor name")
        if name in seen:
            raise FormatError("a tensor name appears twice", where=where, received=name)
        seen.add(name)
        n_dims = cursor.scalar(4, f"the rank of {name}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise FormatError("a tensor's rank is out of range", where=where, received=f"{name}: {n_dims}", expected=f"1 to {MAX_DIMS}")
        dims = tuple(int(cursor.scalar(10, f"a dimension of {name}")) for _ in range(n_dims))
        type_id = cursor.scalar(4, f"the type of {name}")
        offset = cursor.scalar(10, f"the offset of {name}")
        table.append((name, tuple(reversed(dims)), int(type_id), int(offset)))
    return table


def _placed(table: list[tuple[str, tuple[int, ...], int, int]], data_start: int, alignment: int, size: int,
            where: str) -> dict[str, GGUFTensor]:
    """Each tensor's type, byte count and absolute place, checked: known type, whole blocks, aligned, inside, no overlap."""
    sizes = _quant_sizes()
    tensors: dict[str, GGUFTensor] = {}
    for name, shape, type_id, offset in table:
        if type_id not in sizes:
            raise FormatError("unknown tensor type", where=f"{where}: {name}", received=type_id,
                              expected="a ggml type (" + ", ".join(SUPPORTED_TYPES) + ")")
        block, block_bytes, type_name = sizes[type_id]
        if type_name not in SUPPORTED_TYPES:
            raise FormatError("unsupported tensor type", where=f"{where}: {name}", received=type_name,
                              expected=", ".join(SUPPORTED_TYPES), fix="Requantize the model with one of these types.")
        numel = math.prod(shape)
        if numel == 0 or numel > size * block:  # more elements than the whole file could hold at this type
            raise FormatError("a tensor's shape does not fit the file", where=f"{where}: {name}", received=shape)
        if shape[-1] % block:
            raise FormatError("a tensor's rows are not whole blocks of its type", where=f"{where}: {name}",
                              received=f"{shape[-1]} values per row, {type_name} blocks of {block}")
        nbytes = numel // block * block_bytes
        if offset % alignment:
            raise FormatError("a tensor's data is not aligned", where=f"{where}: {name}", expected=f"a multiple of {alignment}",
                              received=offset)
        start = data_start + offset
        if start + nbytes > size:
            raise FormatError("a tensor's data lies past the end of the file", where=f"{where}: {name}",
                              expected=f"bytes {start} to {start + nbytes}", received=f"a file of {size} bytes",
                              fix="The file is truncated; download it again.")
        tensors[name] = GGUFTensor(name, shape, type_id, type_name, start, nbytes)
    ordered = sorted(tensors.values(), key=lambda t: t.offset)
    for before, after in zip(ordered, ordered[1:]):
        if before.offset + before.nbytes > after.offset:
            raise FormatError("two tensors' data overlap", where=where, received=f"{before.name} and {after.name}")
    return tensors


def read_tensor(header: GGUFHeader, tensor: GGUFTensor) -> np.ndarray:
    """The tensor's values: plain types as stored, quantized ones dequantized to float32 (llama.cpp's reference code)."""
    if tensor.type_id in _PLAIN:
        return read_array(header.path, tensor.offset, _PLAIN[tensor.type_id], tensor.shape, where=f"{header.path}: {tensor.name}")
    raw = read_array(header.path, tensor.offset, "uint8", (tensor.nbytes,), where=f"{header.path}: {tensor.name}")
    gguf = _gguf()
    rows = math.prod(tensor.shape) // tensor.shape[-1]  # ggml's rows: the fastest dimension is numpy's last
    values = gguf.quants.dequantize(raw.reshape(rows, tensor.nbytes // rows), gguf.GGMLQuantizationType(tensor.type_id))
    return np.ascontiguousarray(values, dtype=np.float32).reshape(tensor.shape)


# -- architectures: names, permutations, config --------------------------------------------------------
def _permute_back(heads_key: str) -> Callable[[np.ndarray, dict[str, Any]], np.ndarray]:
    """Undo llama.cpp's row permutation of a rotary projection (pairs interleaved per head, back to two halves)."""

    def undo(weight: np.ndarray, config: dict[str, Any]) -> np.ndarray:
        heads = int(config[heads_key])
        rows = weight.shape[0]
        return np.ascontiguousarray(weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape))

    return undo


@dataclass(frozen=True)
class GGUFArchitecture:
    """How one ``general.architecture`` maps to transformers: model_type, config keys, tensor names, permutations."""

    model_type: str
    architecture: str  # the transformers class recorded in the config
    #: metadata key (after the ``<arch>.`` prefix) -> config attribute
    config_keys: dict[str, str]
    #: llama.cpp name pattern (``blk.{i}.attn_q``) -> transformers name (``model.layers.{i}.self_attn.q_proj``)
    names: dict[str, str]
    #: transformers names (pattern) -> how to undo llama.cpp's permutation, given the config values
    permuted: dict[str, Callable[[np.ndarray, dict[str, Any]], np.ndarray]] = field(default_factory=dict)


_DECODER_NAMES = {
    "token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
    "blk.{i}.attn_norm": "model.layers.{i}.input_layernorm", "blk.{i}.attn_q": "model.layers.{i}.self_attn.q_proj",
    "blk.{i}.attn_k": "model.layers.{i}.self_attn.k_proj", "blk.{i}.attn_v": "model.layers.{i}.self_attn.v_proj",
    "blk.{i}.attn_output": "model.layers.{i}.self_attn.o_proj", "blk.{i}.ffn_norm": "model.layers.{i}.post_attention_layernorm",
    "blk.{i}.ffn_gate": "model.layers.{i}.mlp.gate_proj", "blk.{i}.ffn_up": "model.layers.{i}.mlp.up_proj",
    "blk.{i}.ffn_down": "model.layers.{i}.mlp.down_proj",
}
_DECODER_CONFIG = {
    "context_length": "max_position_embeddings", "embedding_length": "hidden_size", "feed_forward_length": "intermediate_size",
    "block_count": "num_hidden_layers", "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads", "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "rope.freq_base": "rope_theta", "vocab_size": "vocab_size",
}
ARCHITECTURES: dict[str, GGUFArchitecture] = {}


def register_architecture(name: str, spec: GGUFArchitecture) -> None:
    """Declare how GGUF files whose ``general.architecture`` is ``name`` map to transformers."""
    ARCHITECTURES[name] = spec


# llama.cpp's converter permutes Llama's (and Mistral's, saved as "llama") query and key rows; Qwen2's and Gemma's it does not
register_architecture("llama", GGUFArchitecture("llama", "LlamaForCausalLM", _DECODER_CONFIG, _DECODER_NAMES, {
    "model.layers.{i}.self_attn.q_proj.weight": _permute_back("num_attention_heads"),
    "model.layers.{i}.self_attn.k_proj.weight": _permute_back("num_key_value_heads"),
}))
register_architecture("qwen2", GGUFArchitecture("qwen2", "Qwen2ForCausalLM", _DECODER_CONFIG, _DECODER_NAMES))
register_architecture("gemma", GGUFArchitecture("gemma", "GemmaForCausalLM", _DECODER_CONFIG, _DECODER_NAMES))


def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(pattern).replace(r"\{i\}", r"(\d+)") + "$")


def architecture_of(header: GGUFHeader) -> GGUFArchitecture:
    name = header.metadata.get("general.architecture")
    if not isinstance(name, str):
        raise FormatError("the file does not say its architecture", where=header.path, expected="general.architecture, a string",
                          received=name)
    spec = ARCHITECTURES.get(name)
    if spec is None:
        raise FormatError("a GGUF architecture modelport cannot map to transformers yet", where=header.path,
                          received=name, expected=", ".join(sorted(ARCHITECTURES)))
    return spec


def transformers_names(header: GGUFHeader) -> dict[str, str]:
    """transformers name -> llama.cpp name, for every tensor; a name no rule covers keeps its llama.cpp form."""
    spec = architecture_of(header)
    rules = [(_compiled(source), target) for source, target in spec.names.items()]
    mapped: dict[str, str] = {}
    for name in header.tensors:
        stem, dot, suffix = name.rpartition(".")
        renamed = name
        for pattern, target in rules:
            match = pattern.match(stem)
            if match:
                renamed = target.replace("{i}", match.group(1)) if match.groups() else target
                renamed = f"{renamed}{dot}{suffix}"
                break
        if renamed in mapped:
            raise FormatError("two tensors map to one transformers name", where=header.path,
                              received=f"{mapped[renamed]} and {name} -> {renamed}")
        mapped[renamed] = name
    return mapped


def permutations(header: GGUFHeader, names: list[str]) -> dict[str, Callable[[np.ndarray, dict[str, Any]], np.ndarray]]:
    """transformers name -> how to undo llama.cpp's permutation, for the tensors it permuted."""
    rules = [(_compiled(pattern), undo) for pattern, undo in architecture_of(header).permuted.items()]
    return {name: undo for name in names for pattern, undo in rules if pattern.match(name)}


def config_values(header: GGUFHeader) -> dict[str, Any]:
    """The transformers config of the file (``model_type``, sizes, token ids, ties) from its metadata."""
    spec = architecture_of(header)
    prefix = header.metadata["general.architecture"] + "."
    values: dict[str, Any] = {"model_type": spec.model_type, "architectures": [spec.architecture]}
    for key, attribute in spec.config_keys.items():
        if prefix + key in header.metadata:
            value = header.metadata[prefix + key]
            if isinstance(value, (str, list, np.ndarray)):
                raise FormatError("a metadata value has the wrong type", where=header.path, received=f"{prefix + key}: {value!r}"[:120],
                                  expected="a number")
            values[attribute] = float(value) if isinstance(value, float) else int(value)
    if "vocab_size" not in values and isinstance(header.metadata.get("tokenizer.ggml.tokens"), list):
        values["vocab_size"] = len(header.metadata["tokenizer.ggml.tokens"])
    for required in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
        if required not in values:
            raise FormatError("the file lacks a required architecture key", where=header.path,
                              expected=prefix + next(k for k, a in spec.config_keys.items() if a == required))
    for key, attribute in (("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"), ("padding_token_id", "pad_token_id")):
        if f"tokenizer.ggml.{key}" in header.metadata:
            values[attribute] = int(header.metadata[f"tokenizer.ggml.{key}"])
    values["tie_word_embeddings"] = "output.weight" not in header.tensors
    return values


class GGUFReader:
    """A GGUF file as the registry's reader: transformers' PyTorch names, dequantized float32 (or stored float) arrays."""

    recorded_framework: str | None = "pt"

    def __init__(self, path: Path) -> None:
        self.header = read_header(path)
        self.names = transformers_names(self.header)
        self.config = config_values(self.header)
        self.metadata = {"format": "pt", "gguf.architecture": str(self.header.metadata["general.architecture"])}
        self.infos = {name: self._info(name) for name in self.names}
        self.undo = permutations(self.header, list(self.names))

    def _info(self, name: str) -> TensorInfo:
        tensor = self.header.tensors[self.names[name]]
        dtype = _PLAIN.get(tensor.type_id, "float32")
        return TensorInfo(name, dtype, tensor.shape, self.header.path, math.prod(tensor.shape) * DTYPES[dtype].itemsize)

    def read(self, name: str) -> np.ndarray:
        values = read_tensor(self.header, self.header.tensors[self.names[name]])
        undo = self.undo.get(name)
        return undo(values, self.config) if undo is not None else values

    def offset(self, name: str) -> int | None:
        return None  # dequantized or permuted: never the stored bytes as they lie

    def aliases(self) -> dict[str, str]:
        return {}
