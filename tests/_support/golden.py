"""Where the golden checkpoints written by transformers 4.57.6 are, and which architectures they hold."""

from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "data"
ARCHS = ("bert", "bert-mlm", "gpt2")
