"""``ModelOutput``: what every adapter's models return."""

from __future__ import annotations

from typing import Any

__all__ = ["ModelOutput"]


class ModelOutput(dict):
    """Outputs by name, as attributes and keys (``out.logits``, ``out["logits"]``); None values are dropped."""

    def __init__(self, **values: Any) -> None:
        super().__init__({k: v for k, v in values.items() if v is not None})

    def __getattr__(self, name: str) -> Any:
        return self.get(name)
