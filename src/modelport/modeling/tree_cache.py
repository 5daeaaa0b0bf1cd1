"""Parameter trees remembered on disk, so that converting into a framework need not import it.

A target's tree comes from building its model without weights, which means
importing the framework first (TensorFlow: 4-6 s, most of a ``--to tf``
conversion). The tree depends on nothing but the adapter's code, the
framework's installed version and the config, so a built tree is kept as a small JSON
file under a key made of those, and the next conversion of the same
architecture and config reads it instead of importing the framework.

* The key holds every ``.py`` file of the adapter's package and of modelport
  (path, size and modification time: an edited or upgraded install never
  matches an old entry), the framework's installed copy (its top module
  file's path, size and time) and the config.
* The folder is ``$MODELPORT_CACHE/trees`` (default ``$XDG_CACHE_HOME/modelport``,
  else ``~/.cache/modelport``); ``MODELPORT_CACHE=off`` turns the cache off.
* An entry that cannot be read or does not have the expected form is ignored
  and written again; a folder that cannot be written only costs the next
  conversion a build.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..fsutil import write_text_atomic

__all__ = ["CACHE_ENV", "cache_folder", "cached_tree"]

logger = logging.getLogger(__name__)

CACHE_ENV = "MODELPORT_CACHE"
_FORMAT = 1  # the entries' layout; a change makes old entries miss


def cache_folder() -> Path | None:
    """Where trees are kept, or None when ``MODELPORT_CACHE=off``."""
    configured = os.environ.get(CACHE_ENV, "")
    if configured.lower() in ("off", "0", "false", "no"):
        return None
    if configured:
        return Path(configured).expanduser() / "trees"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modelport" / "trees"


@functools.cache
def _code_fingerprint(location: str) -> str:
    """Every ``.py`` file of a package folder (or the one file of a plain module), with its size and modification
    time, hashed; empty when the code has no files (then trees are not kept: see :func:`cached_tree`)."""
    root = Path(location) if location else None
    if root is None or not root.exists():
        return ""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
        with contextlib.suppress(OSError):
            stat = path.stat()
            digest.update(f"{path.relative_to(root) if root.is_dir() else path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _spec(module_name: str) -> Any:
    import importlib.util

    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(module_name)
    return None


def _code_location(module_name: str) -> str:
    """The folder of the package holding ``module_name``, or the file of a module outside any package."""
    spec = _spec(module_name.split(".", 1)[0])
    if spec is None:
        return ""
    return list(spec.submodule_search_locations)[0] if spec.submodule_search_locations else spec.origin or ""


def _installed_stamp(module_name: str) -> str:
    """The framework's installed copy, by its top module file alone (its whole package would be thousands of files,
    and package metadata takes half a second to search): another version or install of it changes this."""
    spec = _spec(module_name)
    return _code_fingerprint(spec.origin) if spec is not None and spec.origin else ""


def _key(adapter: Any, config: Any) -> str | None:
    """The entry's name, or None when the adapter's code cannot be fingerprinted (an adapter defined in
    ``__main__`` or built at run time): its trees are not kept."""
    code = _code_fingerprint(_code_location(type(adapter).__module__))
    if not code or type(adapter).__module__ == "__main__":
        return None
    parts = [
        _FORMAT,
        type(adapter).__module__,
        type(adapter).__qualname__,
        code,
        _code_fingerprint(_code_location(__name__)),
        _installed_stamp(adapter.framework_module),
        _architecture_facts(config),
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


#: config fields that say where a config came from, not what the model is: the same model read from two folders
#: (or two commits) has one tree
_PROVENANCE = ("_name_or_path", "_commit_hash")


def _architecture_facts(config: Any) -> str:
    facts = config.to_dict()
    for name in _PROVENANCE:
        facts.pop(name, None)
    return json.dumps(facts, sort_keys=True, default=str)


def cached_tree(adapter: Any, config: Any, build: Callable[[], Any]) -> Any:
    """``build()`` (an adapter's :class:`~modelport.adapters.base.ParameterTree` for ``config``), from the disk cache
    when an entry for this adapter code, framework version and config exists; built and kept otherwise."""
    folder = cache_folder()
    key = _key(adapter, config) if folder is not None else None
    if folder is None or key is None:
        return build()
    path = folder / f"{key}.json"
    found = _read(path)
    if found is not None:
        return found
    tree = build()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(_as_json(tree)))
    return tree


def _as_json(tree: Any) -> dict[str, Any]:
    return {"framework": tree.framework, "shapes": [[name, list(shape)] for name, shape in tree.shapes.items()],
            "base_model_prefix": tree.base_model_prefix, "model_class": tree.model_class}


def _read(path: Path) -> Any:
    """The tree kept at ``path``, or None when there is none or it is not in the expected form."""
    from ..adapters.base import ParameterTree

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        shapes = {}
        for name, shape in data["shapes"]:
            if not isinstance(name, str) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError(name)
            shapes[name] = tuple(shape)
        fields = (data["framework"], data["base_model_prefix"], data["model_class"])
        if not all(isinstance(value, str) for value in fields) or not shapes:
            raise ValueError("fields")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:  # a damaged entry is built and written again
        logger.debug("%s: ignoring a damaged tree cache entry (%s)", path, exc)
        return None
    return ParameterTree(data["framework"], shapes, base_model_prefix=data["base_model_prefix"], model_class=data["model_class"])
