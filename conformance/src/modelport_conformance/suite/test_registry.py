"""The registry finds the adapter, and the adapter's tensors, without importing other frameworks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from modelport import adapters

FRAMEWORKS = {"torch", "tensorflow", "jax", "flax"}

SCRIPT = """
import importlib, json, sys
import numpy as np
from modelport import adapters
others = set(json.loads(sys.argv[2]))
framework = sys.argv[3]
if framework:
    importlib.import_module(framework)  # what the framework itself pulls in is not the adapter's doing
itself = sorted({m.split(".")[0] for m in sys.modules} & others)
adapter = adapters.get(sys.argv[1])
tensor = adapter.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))
found = adapters.for_object(tensor)
print(json.dumps({"found": found.name if found else None, "by_framework": itself,
                  "loaded": sorted(({m.split(".")[0] for m in sys.modules} & others) - set(itself))}))
"""


def test_the_registry_finds_the_adapter_and_its_tensors(adapter):
    assert adapters.get(adapter.name) is adapter, f"adapters.get({adapter.name!r}) returned another object"
    tensor = adapter.from_numpy(np.zeros((2, 2), np.float32))
    assert adapters.for_object(tensor) is adapter, (
        f"adapters.for_object does not recognise the {adapter.name} adapter's own tensors ({type(tensor).__module__}."
        f"{type(tensor).__name__}): check tensor_types")


def test_using_the_adapter_imports_no_other_framework(adapter):
    others = sorted(FRAMEWORKS - {adapter.framework_module})
    done = subprocess.run([sys.executable, "-c", SCRIPT, adapter.name, json.dumps(others), adapter.framework_module or ""],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["found"] == adapter.name, f"in a fresh process for_object found {result['found']}, not {adapter.name}"
    assert result["loaded"] == [], (
        f"using the {adapter.name} adapter imported other frameworks: {result['loaded']} "
        f"({adapter.framework_module} itself imports {result['by_framework'] or 'none'})")
