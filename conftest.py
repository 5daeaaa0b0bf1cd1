"""Settings for every test folder (tests, conformance/tests, backends/*/tests)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

# Parameter trees are kept on disk between runs (modelport.modeling.tree_cache). Tests keep theirs in a folder of
# their own, so that the user's cache is neither read nor written and each run starts empty; subprocesses inherit
# it, and the process that made it removes it when it exits.
if not os.environ.get("MODELPORT_CACHE"):
    os.environ["MODELPORT_CACHE"] = tempfile.mkdtemp(prefix="modelport-test-cache-")
    atexit.register(functools.partial(shutil.rmtree, os.environ["MODELPORT_CACHE"], ignore_errors=True))
