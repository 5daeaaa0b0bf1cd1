"""Import Keras 3 on the TensorFlow backend, or say why it cannot be.

Keras 3 picks its backend once per process from ``KERAS_BACKEND`` (default
``tensorflow``). The TF adapter's models are TensorFlow code, so another
backend already chosen is an error with a fix, not a confusing failure later.
"""

from __future__ import annotations

import os

from modelport.errors import AdapterError

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # only matters before keras' first import

try:
    import tensorflow as tf
except ImportError as exc:  # pragma: no cover - depends on the install
    raise AdapterError("TensorFlow is not installed", where="modelport_tf",
                       fix="Install it with the adapter: pip install 'modelport-tf[cpu]' (or [gpu]).") from exc

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise AdapterError(
        "Keras runs on another backend", where="modelport_tf", expected="KERAS_BACKEND=tensorflow",
        received=keras.backend.backend(),
        fix="Set KERAS_BACKEND=tensorflow before keras is first imported (modelport_tf's models are TensorFlow code).",
    )

__all__ = ["keras", "tf"]
