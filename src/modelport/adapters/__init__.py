"""The adapter registry.

Adapters register under the entry-point group ``modelport.adapters`` with an
import string (``torch = "modelport_torch.adapter:TorchAdapter"``) and are
imported on first use. :func:`for_object` finds a tensor's adapter from the
names of its type and its bases, looking only at frameworks already imported,
so asking never imports a framework.

Example:
    >>> from modelport import adapters
    >>> adapters.available()            # doctest: +SKIP
    ['flax', 'numpy', 'tf', 'torch']
    >>> adapters.get("numpy").to_numpy([1, 2]).tolist()
    [1, 2]
"""

from __future__ import annotations

import importlib.metadata
import sys
import threading
from typing import Any

from ..errors import AdapterError, AdapterNotFoundError
from .base import Adapter, Capabilities, ParameterTree

__all__ = ["Adapter", "Capabilities", "ParameterTree", "ENTRY_POINT_GROUP", "available", "adapter_class", "get", "for_object", "register"]

ENTRY_POINT_GROUP = "modelport.adapters"

# First-party adapters the core knows how to install, for helpful errors.
_KNOWN_DISTRIBUTIONS = {
    "torch": "modelport-torch",
    "tf": "modelport-tf",
    "flax": "modelport-flax",
}

_lock = threading.RLock()
_specs: dict[str, str] | None = None  # name -> import string, from entry points
_registered: dict[str, type[Adapter]] = {}  # added at run time with register()
_instances: dict[str, Adapter] = {}
_by_type: dict[type, str | None] = {}


def _entry_point_specs() -> dict[str, str]:
    global _specs
    with _lock:
        if _specs is None:
            _specs = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
        return _specs


def _reset() -> None:
    """Forget everything loaded (for tests that install adapters at run time)."""
    global _specs
    with _lock:
        _specs = None
        _instances.clear()
        _by_type.clear()


def register(adapter_class: type[Adapter], *, name: str | None = None) -> None:
    """Register an adapter class at run time, in addition to the entry points."""
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, Adapter)):
        raise AdapterError(
            "only subclasses of modelport.adapters.Adapter can be registered",
            where="modelport.adapters.register",
            received=adapter_class,
        )
    key = name or adapter_class.name
    if not key:
        raise AdapterError("an adapter needs a name", where=adapter_class.__qualname__, fix="Set the class attribute `name`.")
    with _lock:
        _registered[key] = adapter_class
        _instances.pop(key, None)
        _by_type.clear()


def available() -> list[str]:
    """Names of every registered adapter, sorted. Nothing is imported."""
    return sorted(set(_entry_point_specs()) | set(_registered))


def _load_class(name: str) -> type[Adapter]:
    if name in _registered:
        return _registered[name]
    spec = _entry_point_specs()[name]
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except Exception as exc:  # a broken third-party adapter must not look like a core bug
        raise AdapterError(
            f"the adapter {name!r} is registered but could not be imported",
            where=spec,
            received=f"{type(exc).__name__}: {exc}",
            fix="Reinstall the adapter's package, or uninstall it if it is no longer wanted.",
        ) from exc
    if not (isinstance(obj, type) and issubclass(obj, Adapter)):
        raise AdapterError(
            f"the entry point of adapter {name!r} does not name an Adapter subclass",
            where=spec,
            received=obj,
        )
    return obj


def adapter_class(name: str) -> type[Adapter]:
    """The class registered as ``name``, imported (adapter modules import no framework) but not instantiated."""
    with _lock:
        if name not in _registered and name not in _entry_point_specs():
            get(name)  # raises the AdapterNotFoundError with its install hint
        return _load_class(name)


def get(name: str) -> Adapter:
    """Return the adapter registered as ``name``, importing it on first use.

    Raises:
        AdapterNotFoundError: no adapter of that name is installed; the message
            gives the pip command for first-party adapters.
    """
    with _lock:
        if name in _instances:
            return _instances[name]
        if name not in _registered and name not in _entry_point_specs():
            dist = _KNOWN_DISTRIBUTIONS.get(name)
            fix = f"Install it with: pip install {dist}" if dist else "Install the package that provides it."
            raise AdapterNotFoundError(
                f"no adapter named {name!r} is installed",
                where="modelport.adapters",
                expected="one of " + (", ".join(available()) or "(none installed)"),
                received=name,
                fix=fix,
            )
        instance = _load_class(name)()
        _instances[name] = instance
        return instance


def _adapter_name_for_type(tp: type) -> str | None:
    """The adapter claiming the most specific class of ``tp``'s MRO: a wrapper adapter whose tensors subclass
    another framework's wins over that framework's adapter, whatever the names; ties go to the first name."""
    roots = {(k.__module__ or "").partition(".")[0] for k in tp.__mro__}
    best: tuple[int, str] | None = None
    for name in available():
        cls = _load_class(name)
        claimed = set(cls.tensor_types)
        # Only frameworks already imported can own the object; this keeps the
        # check free of framework imports, whatever the adapter does.
        if not any(root in sys.modules for root, _ in claimed) or not roots & {root for root, _ in claimed}:
            continue
        depth = _claimed_depth(tp, claimed)
        if depth is not None and (best is None or depth < best[0]):
            best = (depth, name)
    return best[1] if best else None


def _claimed_depth(tp: type, claimed: set[tuple[str, str]]) -> int | None:
    """How far up ``tp``'s MRO the first class in ``claimed`` sits (0: ``tp`` itself), or None."""
    for depth, klass in enumerate(tp.__mro__):
        if ((klass.__module__ or "").partition(".")[0], klass.__name__) in claimed:
            return depth
    return None


def for_object(obj: Any) -> Adapter:
    """Return the adapter whose framework owns ``obj`` (a tensor or array).

    Matching uses the module and class names of ``type(obj)`` and its bases,
    cached per exact type; no framework is imported to answer.

    Raises:
        AdapterNotFoundError: no installed adapter handles that type.
    """
    tp = type(obj)
    with _lock:
        if tp not in _by_type:
            _by_type[tp] = _adapter_name_for_type(tp)
        name = _by_type[tp]
    if name is None:
        root = (tp.__module__ or "").partition(".")[0]
        hint = {"torch": "torch", "tensorflow": "tf", "keras": "tf", "jax": "flax", "jaxlib": "flax"}.get(root)
        fix = f"Install it with: pip install {_KNOWN_DISTRIBUTIONS[hint]}" if hint else None
        raise AdapterNotFoundError(
            "no installed adapter handles this object",
            where=f"{tp.__module__}.{tp.__qualname__}",
            expected="a tensor of an installed adapter's framework (" + ", ".join(available()) + ")",
            fix=fix,
        )
    return get(name)
