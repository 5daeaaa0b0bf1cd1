"""modelport's PyTorch adapter.

Importing this package is cheap: torch is imported only when a name that
needs it is used, so the core's registry can read the adapter class without
loading the framework.
"""

__version__ = "0.1.0"

__all__ = ["TorchAdapter", "__version__"]


def __getattr__(name: str):  # PEP 562: keep `import modelport_torch` free of torch
    if name == "TorchAdapter":
        from .adapter import TorchAdapter

        return TorchAdapter
    raise AttributeError(f"module 'modelport_torch' has no attribute {name!r}")
