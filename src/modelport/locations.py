"""Is a name a local path or a Hub repo id? One rule for every entry point.

A name that exists on disk is local. A name that looks like a path (it starts
with ``.``, ``/`` or ``~``, it is not a valid repo id, or its parent folder
exists) but does not exist is a *missing local path*: the user mistyped a path,
and asking the Hub about it would only cost retries and end in advice about the
network. Everything else is a Hub repo id.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import CheckpointNotFoundError

__all__ = ["is_local", "looks_like_repo_id", "check_not_weights_file"]

_REPO_ID = re.compile(r"(?:[\w.-]{1,96}/)?[\w.-]{1,96}")


def looks_like_repo_id(name: str) -> bool:
    """``"name"`` or ``"org/name"``: what the Hub accepts as a model repo id."""
    return bool(_REPO_ID.fullmatch(name)) and ".." not in name and not name.startswith((".", "-")) and not name.endswith(".")


def _looks_like_path(name: str) -> bool:
    if name.startswith((".", "/", "~", os.sep)) or not looks_like_repo_id(name):
        return True
    parent = os.path.dirname(name)
    return bool(parent) and os.path.isdir(parent)


def is_local(name_or_path: str | os.PathLike[str]) -> bool:
    """True for a path that exists, False for a Hub repo id.

    Raises:
        CheckpointNotFoundError: the name is a path that does not exist (never sent to the Hub).
    """
    name = os.fspath(name_or_path)
    if os.path.exists(os.path.expanduser(name)):
        return True
    if isinstance(name_or_path, Path) or _looks_like_path(name):
        parent = Path(name).expanduser().parent
        hint = f"{parent} exists; it holds {_listing(parent)}" if parent.is_dir() else f"{parent} does not exist either"
        raise CheckpointNotFoundError(
            "no such file or folder",
            where=name,
            expected="an existing checkpoint folder, or a Hub repo id ('name' or 'org/name')",
            received=hint,
            fix="Check the path for typos. It was not looked up on the Hub because it is a path, not a repo id.",
        )
    return False


def _listing(folder: Path, limit: int = 8) -> str:
    try:
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return "nothing readable"
    if not names:
        return "nothing"
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_not_weights_file(path: str | os.PathLike[str], what: str) -> None:
    """Refuse a weights file where a checkpoint *folder* is needed, naming the folder to pass instead."""
    from .filenames import is_weights_file

    file = Path(os.fspath(path)).expanduser()
    if file.is_file() and is_weights_file(file.name):
        raise CheckpointNotFoundError(
            f"{what} needs the checkpoint's folder (config.json sits beside the weights), not a weights file",
            where=str(file),
            expected="a folder holding config.json and the weights",
            received=f"the weights file {file.name}",
            fix=f"Pass its folder: {file.parent}",
        )
