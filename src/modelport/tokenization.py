"""Tokenizers for the Llama family: ``tokenizer.json`` built from a GGUF file's metadata, run by ``tokenizers``.

A GGUF file carries its tokenizer as metadata (``tokenizer.ggml.*``): the
vocabulary, the BPE merges, each token's type, the special token ids, whether
to add them, and the name of llama.cpp's pre-tokenizer. This module turns that
into the two files a Hugging Face folder holds (``tokenizer.json`` for the
``tokenizers`` library, ``tokenizer_config.json`` for transformers'
``AutoTokenizer``), so a converted GGUF model keeps its tokenizer. Building
them is plain data and needs no framework and no ``tokenizers``; running one
(:func:`load_tokenizer`) needs ``tokenizers`` (``pip install
'modelport[tokenizers]'``).

What is supported is registered data, and anything else is refused by name,
never approximated: a wrong pre-tokenizer gives plausible but wrong token ids.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FormatError, ModelportError

__all__ = ["GGUF_PRE_TOKENIZERS", "register_gguf_pre_tokenizer", "gguf_tokenizer_json", "gguf_tokenizer_config",
           "gguf_tokenizer_files", "write_gguf_tokenizer", "load_tokenizer", "TOKENIZER_FILES"]

#: the files :func:`write_gguf_tokenizer` writes beside a converted model
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")

_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}

# llama.cpp's token types (``tokenizer.ggml.token_type``)
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class PreTokenizer:
    """What llama.cpp's pre-tokenizer name means in ``tokenizers``' terms, and where that was checked."""

    spec: dict[str, Any]
    checked_on: str


#: llama.cpp's ``tokenizer.ggml.pre`` names -> the ``tokenizers`` pre-tokenizer that splits text the same way.
#: Only names checked against transformers 4.57.6 on a real file are registered (tests/golden/make_gguf_golden.py).
GGUF_PRE_TOKENIZERS: dict[str, PreTokenizer] = {}


def register_gguf_pre_tokenizer(name: str, spec: dict[str, Any], checked_on: str) -> None:
    """Teach modelport one more of llama.cpp's pre-tokenizer names (``tokenizer.ggml.pre``)."""
    GGUF_PRE_TOKENIZERS[name] = PreTokenizer(spec, checked_on)


# GPT-2's split: contractions, letters, numbers, other symbols, spaces (the ByteLevel pre-tokenizer's own regex)
for _name in ("default", "gpt2", "gpt-2"):
    register_gguf_pre_tokenizer(_name, _BYTE_LEVEL, "SmolLM2-135M-Instruct (GPT-2 split; its digits never merge)")
# SmolLM's: every digit alone, then GPT-2's split
register_gguf_pre_tokenizer("smollm", {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                                               _BYTE_LEVEL]},
                            "SmolLM2-135M-Instruct")


def _fail(problem: str, where: str, **details: Any) -> FormatError:
    return FormatError(problem, where=where, **details)


def _strings(metadata: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = metadata.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(f"{key} is missing or not a list of strings", where, expected="an array of strings",
                    received=type(value).__name__)
    return value


def _token_id(metadata: Mapping[str, Any], key: str, vocab_size: int, where: str) -> int | None:
    if key not in metadata:
        return None
    value = metadata[key]
    if isinstance(value, (bool, str, list)) or not 0 <= int(value) < vocab_size:
        raise _fail(f"{key} is not a token id", where, expected=f"an integer in [0, {vocab_size})", received=value)
    return int(value)


def _vocabulary(tokens: list[str], where: str) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token in vocab:
            raise _fail("a token appears twice in the vocabulary", where, received=f"{token!r} at ids {vocab[token]} and {index}",
                        fix="A BPE vocabulary maps each token to one id; the file is damaged.")
        vocab[token] = index
    return vocab


def _merges(merges: list[str], vocab: Mapping[str, int], where: str) -> list[list[str]]:
    pairs = []
    for rank, merge in enumerate(merges):
        parts = merge.split(" ")
        if len(parts) != 2 or parts[0] not in vocab or parts[1] not in vocab or parts[0] + parts[1] not in vocab:
            raise _fail("a BPE merge is not two vocabulary tokens whose join is a token", where,
                        received=f"merge {rank}: {merge!r}", expected="'left right', each and their join in the vocabulary")
        pairs.append(parts)
    return pairs


def _token_types(value: Any, count: int, where: str) -> list[int]:
    """llama.cpp's type of each token (all normal when the key is absent)."""
    if value is None:
        return [_NORMAL] * count
    kinds = list(value) if not isinstance(value, (str, bytes, int, float)) else None
    if kinds is None or any(isinstance(kind, (str, bytes, float)) for kind in kinds):
        raise _fail("tokenizer.ggml.token_type is not an array of integers", where, received=type(value).__name__)
    return [int(kind) for kind in kinds]


def _pre_tokenizer(metadata: Mapping[str, Any], where: str) -> dict[str, Any]:
    name = metadata.get("tokenizer.ggml.pre", "default")
    known = GGUF_PRE_TOKENIZERS.get(name) if isinstance(name, str) else None
    if known is None:
        raise ModelportError("modelport does not know this GGUF pre-tokenizer", where=where,
                             expected="one of " + ", ".join(sorted(GGUF_PRE_TOKENIZERS)), received=f"tokenizer.ggml.pre = {name!r}",
                             fix="Put the model's own tokenizer.json beside the converted weights, or register the "
                                 "pre-tokenizer with modelport.tokenization.register_gguf_pre_tokenizer.")
    return known.spec


def gguf_tokenizer_json(metadata: Mapping[str, Any], where: str = "GGUF metadata") -> dict[str, Any]:
    """The ``tokenizer.json`` (as a dict) of a byte-level BPE tokenizer stored in GGUF metadata.

    Control tokens (``token_type`` 3) become special added tokens, user-defined ones (4) plain added tokens,
    so both are matched whole before BPE runs. BOS and EOS are added when the file says so
    (``tokenizer.ggml.add_bos_token`` / ``add_eos_token``; absent means no, llama.cpp's default for BPE).
    """
    if "tokenizer.ggml.tokens" not in metadata:
        raise ModelportError("the GGUF file carries no tokenizer", where=where, expected="tokenizer.ggml.tokens in its metadata",
                             fix="Put the model's own tokenizer.json beside the converted weights.")
    model = metadata.get("tokenizer.ggml.model")
    if model != "gpt2":
        raise ModelportError("modelport builds tokenizers only for byte-level BPE GGUF files", where=where,
                             expected="tokenizer.ggml.model = 'gpt2'", received=f"tokenizer.ggml.model = {model!r}",
                             fix="Put the model's own tokenizer.json beside the converted weights.")
    tokens = _strings(metadata, "tokenizer.ggml.tokens", where)
    vocab = _vocabulary(tokens, where)
    merges = _merges(_strings(metadata, "tokenizer.ggml.merges", where), vocab, where)
    types = _token_types(metadata.get("tokenizer.ggml.token_type"), len(tokens), where)
    if len(types) != len(tokens):
        raise _fail("tokenizer.ggml.token_type does not have one entry per token", where, expected=len(tokens), received=len(types))
    added = [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": kind == _CONTROL} for i, kind in enumerate(types) if kind in (_CONTROL, _USER_DEFINED)]
    unknown = _token_id(metadata, "tokenizer.ggml.unknown_token_id", len(tokens), where)
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": _pre_tokenizer(metadata, where),
        "post_processor": _post_processor(metadata, tokens, where),
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": tokens[unknown] if unknown is not None else None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": merges},
    }


def _post_processor(metadata: Mapping[str, Any], tokens: list[str], where: str) -> dict[str, Any]:
    """BOS/EOS around each sequence as the file asks; otherwise ByteLevel offsets only."""
    around: dict[str, int] = {}  # "bos"/"eos" -> token id
    for side, flag in (("bos", "tokenizer.ggml.add_bos_token"), ("eos", "tokenizer.ggml.add_eos_token")):
        token_id = _token_id(metadata, f"tokenizer.ggml.{side}_token_id", len(tokens), where)
        if bool(metadata.get(flag, False)):
            if token_id is None:
                raise _fail(f"{flag} is set but the file names no {side} token", where,
                            expected=f"tokenizer.ggml.{side}_token_id")
            around[side] = token_id
    if not around:
        return {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}

    def template(pieces: list[str], type_id: int) -> list[dict[str, Any]]:
        out = [{"SpecialToken": {"id": tokens[around["bos"]], "type_id": type_id}}] if "bos" in around else []
        out += [{"Sequence": {"id": piece, "type_id": type_id}} for piece in pieces]
        return out + ([{"SpecialToken": {"id": tokens[around["eos"]], "type_id": type_id}}] if "eos" in around else [])

    special = {tokens[i]: {"id": tokens[i], "ids": [i], "tokens": [tokens[i]]} for i in around.values()}
    return {"type": "TemplateProcessing", "single": template(["A"], 0), "pair": template(["A"], 0) + template(["B"], 1),
            "special_tokens": special}


def gguf_tokenizer_config(metadata: Mapping[str, Any], where: str = "GGUF metadata") -> dict[str, Any]:
    """``tokenizer_config.json`` for transformers' ``AutoTokenizer``: the special tokens, the chat template, the context."""
    tokens = _strings(metadata, "tokenizer.ggml.tokens", where)
    config: dict[str, Any] = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}
    for key, name in (("bos_token_id", "bos_token"), ("eos_token_id", "eos_token"), ("unknown_token_id", "unk_token"),
                      ("padding_token_id", "pad_token")):
        token_id = _token_id(metadata, f"tokenizer.ggml.{key}", len(tokens), where)
        if token_id is not None:
            config[name] = tokens[token_id]
    template = metadata.get("tokenizer.chat_template")
    if isinstance(template, str):
        config["chat_template"] = template
    context = metadata.get(f"{metadata.get('general.architecture')}.context_length")
    if context is not None and not isinstance(context, (str, list)):
        config["model_max_length"] = int(context)
    return config


def gguf_tokenizer_files(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{file name: content}`` of the tokenizer a GGUF file carries (see :data:`TOKENIZER_FILES`)."""
    from .formats.gguf import read_header

    where = os.fspath(path)
    metadata = read_header(where).metadata
    return {"tokenizer.json": gguf_tokenizer_json(metadata, where), "tokenizer_config.json": gguf_tokenizer_config(metadata, where)}


def write_gguf_tokenizer(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> list[str]:
    """Write the GGUF file's tokenizer into ``folder``; the names of the files written."""
    files = gguf_tokenizer_files(path)
    for name, content in files.items():
        Path(folder, name).write_text(json.dumps(content, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return list(files)


def load_tokenizer(path: str | os.PathLike[str], gguf_file: str | None = None) -> Any:
    """A ``tokenizers.Tokenizer`` from a GGUF file (``path`` itself, or ``gguf_file`` in the folder ``path``) or a
    folder's ``tokenizer.json``."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ModelportError("running a tokenizer needs the tokenizers package", where=os.fspath(path),
                             fix="pip install 'modelport[tokenizers]'") from exc
    target = Path(path, gguf_file) if gguf_file else Path(path)
    if target.is_file() and target.suffix == ".gguf":
        return Tokenizer.from_str(json.dumps(gguf_tokenizer_files(target)["tokenizer.json"]))
    file = target / "tokenizer.json" if target.is_dir() else target
    if not file.is_file():
        raise ModelportError("no tokenizer here", where=os.fspath(target), expected="a .gguf file or a folder with tokenizer.json")
    return Tokenizer.from_file(os.fspath(file))
