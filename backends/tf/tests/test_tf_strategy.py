"""Loading under a ``tf.distribute.MirroredStrategy``: every variable mirrored, every replica the checkpoint's values.

Keras 3 on TF has no way to split one variable over processes (docs/sharded.md says why); replication is what
a strategy does, and loading must fill every replica, by its first value or by assignment.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
WORKER = Path(__file__).with_name("_strategy_worker.py")
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("source", ["llama-family/llama/pt-safetensors-sharded", "gpt2/tf-h5"])
def test_a_load_under_a_mirrored_strategy_fills_every_replica(tmp_path, source):
    run = subprocess.run([sys.executable, str(WORKER), str(GOLDEN / source), str(tmp_path / "out.json")],
                         capture_output=True, text=True, timeout=600, env={"TF_CPP_MIN_LOG_LEVEL": "2", **__import__("os").environ})
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["kinds"] == ["MirroredVariable"]
    assert result["replicas_equal"] and result["assigned_replicas_equal"]
    assert result["difference"] <= 1e-5 and result["assigned_difference"] <= 1e-5
