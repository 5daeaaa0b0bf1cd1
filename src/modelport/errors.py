"""The errors modelport raises on purpose.

Every error derives from :class:`ModelportError`, so callers can catch one type.
Messages follow one shape: where it happened (the file, tensor or key), what was
wrong, what was expected, what was received and how to fix it. Build them with
the keyword arguments of :class:`ModelportError` rather than by hand, so the
shape stays the same everywhere.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "ModelportError",
    "ConfigError",
    "DtypeError",
    "FormatError",
    "CheckpointIndexError",
    "CheckpointNotFoundError",
    "ConversionError",
    "HubError",
    "HubAuthError",
    "HubFileNotFoundError",
    "HubOfflineError",
    "HubRepoNotFoundError",
    "HubRevisionNotFoundError",
    "AdapterError",
    "AdapterNotFoundError",
    "UnsupportedKeywordError",
]


def _show(value: Any) -> str:
    """Render a value for a message: strings quoted, long ones shortened."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 300 else text[:297] + "..."


class ModelportError(Exception):
    """Base class of every error raised by modelport.

    Args:
        problem: what went wrong, in one sentence.
        where: the file, tensor, key or object concerned.
        expected: what modelport expected to find.
        received: what it found instead.
        fix: how the user can fix it.

    The pieces are kept as attributes so tests and callers can inspect them.
    """

    def __init__(
        self,
        problem: str,
        *,
        where: str | os.PathLike[str] | None = None,
        expected: Any = None,
        received: Any = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.where = os.fspath(where) if where is not None else None
        self.expected = expected
        self.received = received
        self.fix = fix
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts = [f"{self.where}: {self.problem}" if self.where else self.problem]
        if self.expected is not None:
            parts.append(f"Expected {self.expected}.")
        if self.received is not None:
            parts.append(f"Received: {_show(self.received)}.")
        if self.fix:
            parts.append(self.fix)
        return " ".join(p if p.endswith((".", "?", "!", ":")) else p + "." for p in parts)

    def __reduce__(self):  # keep errors picklable across processes
        return (_rebuild, (type(self), self.problem, self.where, self.expected, self.received, self.fix))


def _rebuild(cls, problem, where, expected, received, fix):
    return cls(problem, where=where, expected=expected, received=received, fix=fix)


class ConfigError(ModelportError, ValueError):
    """A model configuration (``config.json`` or keyword arguments) is invalid."""


class DtypeError(ModelportError, ValueError):
    """A dtype name or object is unknown, or cannot be held exactly."""


class FormatError(ModelportError, ValueError):
    """A checkpoint file is malformed or not of the format its name claims."""


class CheckpointIndexError(FormatError):
    """A sharded checkpoint's ``*.index.json`` is malformed or inconsistent."""


class CheckpointNotFoundError(ModelportError, FileNotFoundError):
    """A file or folder that should hold a checkpoint or config does not exist."""


class ConversionError(ModelportError, ValueError):
    """Weights cannot be converted between frameworks as asked."""


class HubError(ModelportError, OSError):
    """A Hugging Face Hub operation failed; the client's exception is the cause."""


class HubRepoNotFoundError(HubError):
    """The repository does not exist, or is private and the token cannot see it."""


class HubRevisionNotFoundError(HubError):
    """The branch, tag, commit or ``refs/pr/N`` does not exist in the repository."""


class HubFileNotFoundError(HubError):
    """The file is not in the repository at that revision."""


class HubAuthError(HubError):
    """The token is missing, invalid or lacks access (gated or private repositories)."""


class HubOfflineError(HubError):
    """Offline (``HF_HUB_OFFLINE`` or no network) and the file is not in the cache."""


class AdapterError(ModelportError, RuntimeError):
    """An adapter is broken, or cannot handle the object it was given."""


class AdapterNotFoundError(AdapterError, LookupError):
    """No installed adapter has the requested name or handles the given object."""


class UnsupportedKeywordError(ModelportError, TypeError):
    """A transformers 4.x keyword that modelport does not honour (see docs/keywords.md); the message names it."""
