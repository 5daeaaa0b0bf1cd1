"""modelport's TensorFlow adapter.

Importing this package is cheap: tensorflow is imported only when a name that
needs it is used, so the core's registry can read the adapter class without
loading the framework.
"""

__version__ = "0.1.0"

__all__ = ["TFAdapter", "__version__"]


def __getattr__(name: str):  # PEP 562: keep `import modelport_tf` free of tensorflow
    if name == "TFAdapter":
        from .adapter import TFAdapter

        return TFAdapter
    raise AttributeError(f"module 'modelport_tf' has no attribute {name!r}")
