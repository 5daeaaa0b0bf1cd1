"""Helpers shared by the core's tests (numpy only), importable as ``_support`` (``pythonpath`` in pyproject.toml)."""
