"""The platforms modelport runs on, checked once at import with a message that says what to do.

Tensor reads go straight into their destination buffers with ``os.preadv`` and saves lock with
``fcntl``: POSIX calls that Windows lacks. Linux is tested in CI; macOS 11+ has both calls but is not
tested. On Windows, WSL runs the Linux build.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

__all__ = ["REQUIRED_CALLS", "missing_calls", "check_platform"]

#: (module, attribute) pairs the readers and writers need
REQUIRED_CALLS = (("os", "preadv"), ("os", "pread"), ("fcntl", "flock"))


def missing_calls(calls: Iterable[tuple[str, str]] = REQUIRED_CALLS) -> list[str]:
    """The required calls this Python does not provide, as ``module.name``."""
    missing = []
    for module, name in calls:
        try:
            found = hasattr(__import__(module), name)
        except ImportError:
            found = False
        if not found:
            missing.append(f"{module}.{name}")
    return missing


def check_platform(calls: Iterable[tuple[str, str]] = REQUIRED_CALLS) -> None:
    """Raise ImportError naming the platform and the missing calls, unless every required call is there."""
    missing = missing_calls(calls)
    if missing:
        raise ImportError(
            f"modelport does not support this platform ({sys.platform}, os.name={os.name!r}): it needs "
            f"{', '.join(missing)}, which this Python does not provide. modelport runs on Linux (tested) and "
            "should run on macOS 11+; on Windows, install it inside WSL."
        )
