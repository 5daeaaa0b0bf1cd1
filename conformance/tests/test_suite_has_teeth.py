"""The conformance suite itself: the good adapters pass it, and each broken toy adapter fails it with a message
that says what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelport import adapters

TOYS = Path(__file__).parent / "toys"
pytestmark = pytest.mark.skipif(not {"torch", "tf", "flax"} <= set(adapters.available()), reason="needs the three adapters")


def run_suite(*args: str, toys: bool = True) -> subprocess.CompletedProcess:
    """The suite in a fresh process, as a user runs it; with ``toys`` the broken adapters are registered too."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOYS), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    plugin = ["-p", "toy_adapters"] if toys else []
    return subprocess.run([sys.executable, "-m", "modelport_conformance", *plugin, "-rfEX", *args],
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.parametrize("toy,selection,failing,message", [
    ("toy-upcast", "test_tensors", "test_tensor_round_trip_is_exact[toy-upcast-bfloat16]", "bfloat16 came back as float32"),
    ("toy-drop", "test_checkpoints", "test_save_and_load_round_trip_is_exact[toy-drop-safetensors-single]",
     "tensors missing after a safetensors save and load: ['layer_big/float32']"),
    ("toy-shards", "test_checkpoints", "test_sharded_saves_keep_the_limit_and_a_valid_index[toy-shards-safetensors-sharded]",
     "wrote no index"),
    ("toy-transpose", "test_cross_framework", "test_the_same_checkpoint_gives_the_same_outputs[toy-transpose-tf]",
     "toy-transpose and tf differ on last_hidden_state"),
])
def test_each_broken_adapter_fails_with_a_message_naming_the_problem(toy, selection, failing, message):
    done = run_suite("--adapter", toy, "-k", selection)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "FAILED " in out and failing in out, out[-3000:]
    assert message in out, out[-3000:]


def test_known_failures_turn_into_expected_failures_and_stale_entries_are_reported(tmp_path):
    listed = tmp_path / "known-failures.txt"
    listed.write_text("test_tensor_round_trip_is_exact[toy-upcast-bfloat16]  # upcasts on purpose\n"
                      "test_tensor_round_trip_is_exact[toy-upcast-float128]  # no such test\n")
    done = run_suite("--adapter", "toy-upcast", "-k", "test_tensors", "--known-failures", str(listed))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "1 xfailed" in out and "known-failures entry matches no test: test_tensor_round_trip_is_exact[toy-upcast-float128]" in out


def test_the_three_adapters_pass_the_whole_suite():
    done = run_suite("--adapter", "torch", "--adapter", "tf", "--adapter", "flax", toys=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    for name in ("torch", "tf", "flax"):
        assert f"modelport adapter {name}: modelport-{name}" in out  # the report header names adapter and versions


def test_the_worked_example_adapter_passes_the_suite():
    if "tinytensor" not in adapters.available():
        pytest.skip("install conformance/examples/modelport-tinytensor (the tests session does)")
    done = run_suite("--adapter", "tinytensor", toys=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "passed" in out, out[-3000:]
    assert "modelport adapter tinytensor: modelport-tinytensor 0.1.0" in out
