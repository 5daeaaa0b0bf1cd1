"""``modelport env``: what a bug report needs, read from package metadata (no framework is imported)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

__all__ = ["collect", "render"]

#: distributions whose versions matter to a report, in the order shown
PACKAGES = (
    "modelport", "modelport-torch", "modelport-tf", "modelport-flax", "modelport-conformance",
    "numpy", "ml_dtypes", "h5py", "msgpack", "huggingface_hub", "safetensors", "tokenizers",
    "torch", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "flax", "transformers",
)
#: huggingface_hub's variables (as it defines them) that change what modelport does; token values are never shown
VARIABLES = ("HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS",
             "HF_HUB_ENABLE_HF_TRANSFER", "HF_TOKEN", "KERAS_BACKEND")
_SECRET = ("HF_TOKEN",)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _adapters() -> dict[str, str]:
    """Registered adapters (entry points of ``modelport.adapters``) and the distribution that provides each."""
    found = {}
    for entry in importlib.metadata.entry_points(group="modelport.adapters"):
        dist = getattr(entry, "dist", None)
        found[entry.name] = f"{dist.name} {dist.version}" if dist is not None else entry.value
    return dict(sorted(found.items()))


def collect() -> dict[str, Any]:
    variables = {}
    for name in VARIABLES:
        if name in os.environ:
            variables[name] = "<set>" if name in _SECRET else os.environ[name]
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {name: version for name in PACKAGES if (version := _version(name)) is not None},
        "adapters": _adapters(),
        "environment": variables,
    }


def render(facts: dict[str, Any]) -> str:
    lines = ["Copy and paste the text below into your bug report.", "",
             f"- platform: {facts['platform']}", f"- python: {facts['python']}"]
    lines += [f"- {name}: {version}" for name, version in facts["packages"].items()]
    lines.append("- adapters: " + (", ".join(f"{k} ({v})" for k, v in facts["adapters"].items()) or "none"))
    lines += [f"- {name}={value}" for name, value in facts["environment"].items()]
    return "\n".join(lines)
