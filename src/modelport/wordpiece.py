"""A small uncased WordPiece tokenizer for BERT vocabularies (``vocab.txt``), for the demo and probes.

It follows BERT's basic rules (lower-case, strip accents, split on whitespace
and punctuation, CJK characters alone) and greedy longest-match-first word
pieces. It is not a replacement for the ``tokenizers`` library: it exists so
the main job can turn sentences into ids with nothing but the checkpoint.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import numpy as np

from .errors import ConfigError

__all__ = ["WordPiece"]


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF or 0xF900 <= code <= 0xFAFF
            or 0x2F800 <= code <= 0x2FA1F)


class WordPiece:
    """``WordPiece.from_folder(path)(["a sentence", ...])`` gives padded ``input_ids`` and ``attention_mask``."""

    def __init__(self, vocab: dict[str, int], max_chars_per_word: int = 100) -> None:
        self.vocab = vocab
        self.max_chars_per_word = max_chars_per_word
        for token in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"):
            if token not in vocab:
                raise ConfigError("the vocabulary lacks a special token", where="vocab.txt", received=token)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> WordPiece:
        path = Path(os.fspath(folder)) / "vocab.txt"
        if not path.is_file():
            raise ConfigError("no vocab.txt in the folder", where=str(path.parent))
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls({token: i for i, token in enumerate(lines)})

    def _words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        spaced = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or unicodedata.category(char) == "Mn":
                continue
            if _is_punctuation(char) or _is_cjk(code):
                spaced.append(f" {char} ")
            elif char.isspace():
                spaced.append(" ")
            else:
                spaced.append(char)
        return "".join(spaced).split()

    def _pieces(self, word: str) -> list[int]:
        if len(word) > self.max_chars_per_word:
            return [self.vocab["[UNK]"]]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.vocab["[UNK]"]]
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        """``[CLS] pieces [SEP]`` for one text."""
        return [self.vocab["[CLS]"], *(i for word in self._words(text) for i in self._pieces(word)), self.vocab["[SEP]"]]

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        encoded = [self.encode(t) for t in texts]
        width = max(len(e) for e in encoded)
        ids = np.full((len(encoded), width), self.vocab["[PAD]"], dtype=np.int32)
        mask = np.zeros((len(encoded), width), dtype=np.int32)
        for row, e in enumerate(encoded):
            ids[row, :len(e)] = e
            mask[row, :len(e)] = 1
        return {"input_ids": ids, "attention_mask": mask}
