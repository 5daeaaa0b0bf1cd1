"""The demo's WordPiece tokenizer on the embedded checkpoint's real vocabulary."""

import numpy as np
import pytest

from modelport.errors import ConfigError
from modelport.wordpiece import WordPiece


def test_sentences_become_bert_ids(embedded):
    tokenizer = WordPiece.from_folder(embedded)
    inv = {i: t for t, i in tokenizer.vocab.items()}
    ids = tokenizer.encode("ModelPort converts checkpoints!")
    assert [inv[i] for i in ids] == ["[CLS]", "model", "##port", "converts", "checkpoint", "##s", "!", "[SEP]"]
    assert tokenizer.encode("Hello world") == [101, 7592, 2088, 102]  # the ids of tests/golden/data/minilm
    assert [inv[i] for i in tokenizer.encode("Café déjà-vu")[1:-1]] == ["cafe", "de", "##ja", "-", "vu"]  # accents stripped
    batch = tokenizer(["Hello world", "modelport converts checkpoints"])
    assert batch["input_ids"].tolist() == [[101, 7592, 2088, 102, 0, 0, 0], [101, 2944, 6442, 19884, 26520, 2015, 102]]
    assert np.array_equal(batch["attention_mask"], (batch["input_ids"] != 0).astype(np.int32))


def test_unknown_words_and_vocabularies_without_special_tokens(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##b"]))
    tokenizer = WordPiece.from_folder(tmp_path)
    assert tokenizer.encode("ab zz") == [2, 4, 5, 1, 3]
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    with pytest.raises(ConfigError, match="special token"):
        WordPiece.from_folder(tmp_path)
