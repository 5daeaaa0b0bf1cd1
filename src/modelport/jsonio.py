"""Strict JSON reading and careful JSON writing for configs and indexes.

Python's ``json`` module is lenient in ways that hurt a checkpoint library:
it accepts ``NaN`` and ``Infinity``, keeps the last of two duplicate keys,
reads from a FIFO forever and decodes lone surrogates that later fail to save.
:func:`read_json_file` refuses all of those with a :class:`~modelport.errors.FormatError`
(or the subclass the caller names) that says which file and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
import stat
from typing import Any

from .errors import CheckpointNotFoundError, FormatError, ModelportError
from .fsutil import write_text_atomic

__all__ = ["read_json_file", "parse_json", "dump_json", "write_text_atomic"]

#: largest config or index file read, in bytes (huggingface_hub caps indexes at 10 MiB)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_MAX_DEPTH = 64


class _Refused(Exception):
    """Raised inside the json hooks; turned into a modelport error by the caller."""


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"the non-standard number {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} does not fit in a float")
    return value


def _check_tree(value: Any) -> None:
    """Refuse nesting deeper than _MAX_DEPTH and strings that cannot be saved again."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise _Refused(f"nesting deeper than {_MAX_DEPTH} levels")
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise _Refused(f"the string {item[:40]!r} holds a lone surrogate") from None
        elif isinstance(item, dict):
            for k, v in item.items():
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def parse_json(text: str | bytes, *, where: str, error: type[ModelportError] = FormatError) -> Any:
    """Parse JSON strictly; raise ``error`` naming ``where`` on any problem."""
    if isinstance(text, bytes):
        if text.startswith(b"\xef\xbb\xbf"):
            raise error("the file starts with a UTF-8 byte-order mark", where=where, fix="Save it as UTF-8 without a BOM.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"the file is not valid UTF-8 ({exc.reason} at byte {exc.start})", where=where) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs_hook,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
        _check_tree(value)
    except _Refused as exc:
        raise error(f"invalid JSON: {exc}", where=where) from None
    except json.JSONDecodeError as exc:
        raise error(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", where=where) from None
    except (RecursionError, ValueError) as exc:  # deep nesting, integers over the digit limit
        raise error(f"invalid JSON: {type(exc).__name__}: {str(exc)[:200]}", where=where) from None
    return value


def read_json_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    error: type[ModelportError] = FormatError,
    expect_object: bool = True,
) -> Any:
    """Read a JSON file strictly, from a regular file only, at most ``max_bytes`` long.

    Raises:
        ``error`` (a FormatError by default): not a regular file, too large,
        not UTF-8, not strict JSON, or (with ``expect_object``) not an object.
    """
    where = os.fspath(path)
    try:
        # O_NONBLOCK so that a FIFO planted under the name never blocks the open.
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise CheckpointNotFoundError("the file does not exist", where=where) from None
    except OSError as exc:
        raise error(f"cannot open the file ({exc.strerror})", where=where) from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise error("not a regular file", where=where, fix="Replace it with a plain JSON file.")
        if info.st_size > max_bytes:
            raise error(
                "the file is too large",
                where=where,
                expected=f"at most {max_bytes} bytes",
                received=f"{info.st_size} bytes",
            )
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error("the file grew past the size limit while being read", where=where)
    value = parse_json(data, where=where, error=error)
    if expect_object and not isinstance(value, dict):
        raise error("the top level must be a JSON object", where=where, received=type(value).__name__)
    return value


def dump_json(value: Any, *, where: str, error: type[ModelportError] = FormatError) -> str:
    """Serialise as transformers does (sorted keys, indent 2, trailing newline), refusing NaN."""
    try:
        return json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise error(f"cannot be written as JSON: {exc}", where=where) from exc
