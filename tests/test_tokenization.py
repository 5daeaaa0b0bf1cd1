"""Tokenizers built from GGUF metadata (modelport.tokenization), run by the real ``tokenizers`` library.

Truth: ``tests/golden/data/gguf/smollm2-tokens.json`` (``nox -s golden_gguf``), what transformers 4.57.6's
tokenizer from the same file gives, and the ids llama.cpp's ``smollm`` pre-tokenizer gives (computed there with
transformers' tokenizer on pieces cut at number characters).
"""

from __future__ import annotations

import json

import pytest

from modelport.errors import ModelportError
from modelport.formats.gguf import read_header
from modelport.tokenization import (
    GGUF_PRE_TOKENIZERS,
    gguf_tokenizer_config,
    gguf_tokenizer_json,
    load_tokenizer,
    write_gguf_tokenizer,
)

from _support.gguf import smollm2_file
from _support.golden import GOLDEN

tokenizers = pytest.importorskip("tokenizers")
TOKENS = json.loads((GOLDEN / "gguf" / "smollm2-tokens.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def smollm2_metadata() -> dict:
    return read_header(smollm2_file()).metadata


@pytest.fixture(scope="module")
def smollm2_tokenizer(smollm2_metadata):
    return tokenizers.Tokenizer.from_str(json.dumps(gguf_tokenizer_json(smollm2_metadata)))


@pytest.mark.parametrize("case", TOKENS["texts"], ids=lambda case: case["text"][:24])
def test_smollm2_ids_are_llama_cpps_and_decode_back_to_the_text(smollm2_tokenizer, case):
    encoding = smollm2_tokenizer.encode(case["text"])
    assert encoding.ids == case["llama_cpp_rule"]
    assert smollm2_tokenizer.decode(encoding.ids, skip_special_tokens=False) == case["text"]


def test_smollm2_agrees_with_transformers_wherever_the_pre_tokenizer_name_does_not_matter(smollm2_tokenizer):
    """transformers ignores ``tokenizer.ggml.pre``: it differs only on texts where BPE merges a number character with
    its neighbours (``' ½'``, Arabic-Indic digits ``'١٢٣'``); everywhere else the ids are transformers' own."""
    differing = [case["text"] for case in TOKENS["texts"] if smollm2_tokenizer.encode(case["text"]).ids != case["transformers"]]
    assert differing == ["x² + ½ = 3.14159e-10", "1234567890 12,345.67 ١٢٣"]


def test_the_file_says_no_bos_and_none_is_added(smollm2_metadata, smollm2_tokenizer):
    """The file sets ``add_bos_token`` false (llama.cpp adds none); transformers 4.57.6 adds ``<|im_start|>`` anyway."""
    assert not smollm2_metadata["tokenizer.ggml.add_bos_token"]
    case = TOKENS["texts"][0]
    assert smollm2_tokenizer.encode(case["text"]).ids == case["transformers"]
    assert case["transformers_with_special"] == [1, *case["transformers"]]


def test_a_file_that_asks_for_bos_gets_it(smollm2_metadata):
    metadata = {**smollm2_metadata, "tokenizer.ggml.add_bos_token": True}
    tokenizer = tokenizers.Tokenizer.from_str(json.dumps(gguf_tokenizer_json(metadata)))
    case = TOKENS["texts"][0]
    assert tokenizer.encode(case["text"]).ids == [smollm2_metadata["tokenizer.ggml.bos_token_id"], *case["llama_cpp_rule"]]
    assert tokenizer.encode(case["text"], add_special_tokens=False).ids == case["llama_cpp_rule"]


def test_control_tokens_are_special_and_matched_whole(smollm2_tokenizer):
    ids = smollm2_tokenizer.encode("<|im_start|>user").ids
    assert ids[0] == 1
    assert smollm2_tokenizer.decode(ids) == "user"  # special tokens are skipped by default


def test_tokenizer_config_carries_special_tokens_and_the_chat_template(smollm2_metadata):
    config = gguf_tokenizer_config(smollm2_metadata)
    assert config["bos_token"] == TOKENS["bos_token"] == "<|im_start|>"
    assert (config["eos_token"], config["pad_token"], config["unk_token"]) == ("<|im_end|>", "<|im_end|>", "<|endoftext|>")
    assert config["chat_template"] == TOKENS["chat_template"]
    assert config["model_max_length"] == 8192


def test_load_tokenizer_from_the_file_the_folder_and_written_files(tmp_path):
    path = smollm2_file()
    written = write_gguf_tokenizer(path, tmp_path)
    assert written == ["tokenizer.json", "tokenizer_config.json"]
    expected = TOKENS["texts"][1]["llama_cpp_rule"]
    for tokenizer in (load_tokenizer(path), load_tokenizer(path.parent, gguf_file=path.name), load_tokenizer(tmp_path)):
        assert tokenizer.encode(TOKENS["texts"][1]["text"]).ids == expected


def test_nothing_to_load_is_named(tmp_path):
    with pytest.raises(ModelportError, match="no tokenizer here") as caught:
        load_tokenizer(tmp_path)
    assert str(tmp_path) in str(caught.value)


# -- hostile or unsupported metadata: a clean error naming what is wrong (BAD-INPUTS K9) ----------------------------
def _small_metadata(**changes) -> dict:
    tokens = ["<s>", "a", "b", "ab", "Ġ", "Ġa"]
    metadata = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "default", "tokenizer.ggml.tokens": tokens,
                "tokenizer.ggml.merges": ["a b", "Ġ a"], "tokenizer.ggml.token_type": [3, 1, 1, 1, 1, 1],
                "tokenizer.ggml.bos_token_id": 0}
    metadata.update(changes)
    return {k: v for k, v in metadata.items() if v is not None}


def test_a_small_valid_vocabulary_runs():
    tokenizer = tokenizers.Tokenizer.from_str(json.dumps(gguf_tokenizer_json(_small_metadata())))
    assert tokenizer.encode("ab a").ids == [3, 5]


@pytest.mark.trust("K9")
@pytest.mark.parametrize("changes, message", [
    ({"tokenizer.ggml.model": "llama"}, "only for byte-level BPE"),
    ({"tokenizer.ggml.pre": "llama-bpe"}, "does not know this GGUF pre-tokenizer"),
    ({"tokenizer.ggml.tokens": None}, "carries no tokenizer"),
    ({"tokenizer.ggml.tokens": "abc"}, "tokenizer.ggml.tokens is missing or not a list of strings"),
    ({"tokenizer.ggml.tokens": ["<s>", "a", "a", "ab", "Ġ", "Ġa"]}, "a token appears twice"),
    ({"tokenizer.ggml.merges": ["a b", "a c"]}, "a BPE merge is not two vocabulary tokens"),
    ({"tokenizer.ggml.merges": ["a b c"]}, "a BPE merge is not two vocabulary tokens"),
    ({"tokenizer.ggml.merges": ["Ġ b"]}, "a BPE merge is not two vocabulary tokens"),
    ({"tokenizer.ggml.token_type": [1, 1]}, "one entry per token"),
    ({"tokenizer.ggml.token_type": ["3", "1", "1", "1", "1", "1"]}, "not an array of integers"),
    ({"tokenizer.ggml.token_type": 7}, "not an array of integers"),
    ({"tokenizer.ggml.bos_token_id": 6}, "is not a token id"),
    ({"tokenizer.ggml.bos_token_id": "0"}, "is not a token id"),
    ({"tokenizer.ggml.add_bos_token": True, "tokenizer.ggml.bos_token_id": None}, "names no bos token"),
])
def test_bad_tokenizer_metadata_is_refused_by_name(changes, message):
    with pytest.raises(ModelportError, match=message) as caught:
        gguf_tokenizer_json(_small_metadata(**changes), "model.gguf")
    assert caught.value.where == "model.gguf" and "model.gguf" in str(caught.value)


def test_registered_pre_tokenizers_say_where_they_were_checked():
    assert {"default", "gpt2", "smollm"} <= set(GGUF_PRE_TOKENIZERS)
    assert all(entry.checked_on for entry in GGUF_PRE_TOKENIZERS.values())
