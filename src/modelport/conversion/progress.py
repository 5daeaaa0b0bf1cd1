"""One progress bar over a whole conversion: bytes of tensors, with the phase that is running beside it.

Opening the source, building the target's tree (a TF graph trace), copying files and verifying take
most of a small model's wall time; the bar is there from the first step, naming the phase, and counts
bytes once they stream. It follows huggingface_hub's switch (``HF_HUB_DISABLE_PROGRESS_BARS`` or
``disable_progress_bars()``), as the downloads before it do.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ConversionProgress", "progress_bars_enabled"]


def progress_bars_enabled() -> bool:
    """huggingface_hub's answer (its variable and its ``disable_progress_bars()``), so one switch covers both."""
    try:
        from huggingface_hub.utils import are_progress_bars_disabled
    except ImportError:  # pragma: no cover - every supported release has it
        return os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").upper() not in ("1", "ON", "YES", "TRUE")
    return not are_progress_bars_disabled()


class ConversionProgress:
    """A tqdm bar (or nothing, when disabled) that shows the phase and, while streaming, the bytes written."""

    def __init__(self, enabled: bool | None, description: str) -> None:
        self._bar: Any = None
        if enabled is None:
            enabled = progress_bars_enabled()
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=None, unit="B", unit_scale=True, desc=description, leave=False)

    def phase(self, name: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(name, refresh=True)

    def start_bytes(self, total: int) -> None:
        if self._bar is not None:
            self._bar.reset(total=total)

    def advance(self, nbytes: int) -> None:
        if self._bar is not None:
            self._bar.update(nbytes)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
