"""modelport's JAX/Flax adapter.

Importing this package is cheap: jax is imported only when a name that
needs it is used, so the core's registry can read the adapter class without
loading the framework.
"""

__version__ = "0.1.0"

__all__ = ["FlaxAdapter", "__version__"]


def __getattr__(name: str):  # PEP 562: keep `import modelport_flax` free of jax
    if name == "FlaxAdapter":
        from .adapter import FlaxAdapter

        return FlaxAdapter
    raise AttributeError(f"module 'modelport_flax' has no attribute {name!r}")
