"""The conformance suite itself: the good adapters pass it, and each broken toy adapter fails it with a message
that says what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from modelport import adapters

TOYS = Path(__file__).parent / "toys"
sys.path.insert(0, str(TOYS))
pytestmark = pytest.mark.skipif(not {"torch", "tf", "flax"} <= set(adapters.available()), reason="needs the three adapters")

from toy_adapters import BROKEN  # noqa: E402 - after the path is set


def run_suite(*args: str, toys: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The suite in a fresh process, as a user runs it; with ``toys`` the broken adapters are registered too."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOYS), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    plugin = ["-p", "toy_adapters"] if toys else []
    return subprocess.run([sys.executable, "-m", "modelport_conformance", *plugin, "-rfEX", *args],
                          capture_output=True, text=True, env=env, timeout=900)


def _outcomes(report: Path) -> dict[str, tuple[str, str]]:
    """``{test id: (outcome, failure text)}`` from a junit XML report; a failing teardown counts as an error."""
    results: dict[str, tuple[str, str]] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        outcome, text = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag != "skipped" else "skipped"
                text += (child.get("message") or "") + "\n" + (child.text or "")
        if case.get("name") in results and results[case.get("name")][0] == "failed":
            continue  # a test that failed and then errored on teardown keeps its failure
        results[case.get("name")] = (outcome, text)
    return results


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    report = tmp_path_factory.mktemp("toys") / "report.xml"
    names = [toy.name for toy in BROKEN]
    done = run_suite(*[a for n in names for a in ("--adapter", n)], f"--junitxml={report}", "-q")
    return done, _outcomes(report)


def test_there_is_a_broken_adapter_for_every_kind_of_defect():
    kinds = {expected.kind for expected in BROKEN.values()}
    assert kinds == {"values", "inputs", "dtypes", "models", "bad inputs", "hostile pickles", "hygiene"}
    assert len(BROKEN) >= 12


@pytest.mark.parametrize("toy", sorted(BROKEN, key=lambda t: t.name), ids=lambda t: t.name)
def test_each_broken_adapter_fails_with_a_message_naming_the_problem(toy_run, toy):
    done, outcomes = toy_run
    expected = BROKEN[toy]
    test_id = expected.test + expected.failing
    assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
    assert test_id in outcomes, f"{test_id} did not run; ran: {sorted(k for k in outcomes if toy.name in k)[:20]}"
    outcome, text = outcomes[test_id]
    assert outcome == "failed", f"{toy.name} ({toy.__doc__.strip()}) got through {test_id}"
    assert expected.message in text, text[-3000:]


def test_a_wrapper_adapter_owns_its_tensors_whatever_its_name():
    done = run_suite("--adapter", "toy-wrapper", "-k", "test_the_registry_finds_the_adapter_and_its_tensors")
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "1 passed" in out, out[-3000:]


def test_known_failures_turn_into_expected_failures_and_stale_entries_are_reported(tmp_path):
    listed = tmp_path / "known-failures.txt"
    listed.write_text("test_tensor_round_trip_is_exact[toy-upcast-bfloat16-specials]  # upcasts on purpose\n"
                      "test_tensor_round_trip_is_exact[toy-upcast-float128-specials]  # no such test\n")
    done = run_suite("--adapter", "toy-upcast", "-k", "test_tensor_round_trip_is_exact and specials", "--known-failures", str(listed))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "1 xfailed" in out
    assert "known-failures entry matches no test: test_tensor_round_trip_is_exact[toy-upcast-float128-specials]" in out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _processes_with(variable: str) -> list[int]:
    """Live processes whose environment holds ``variable`` (Linux /proc; our own processes are readable)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if variable.encode() in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_every_adapter_in_the_repository_passes_the_whole_suite_and_leaves_nothing_behind(tmp_path):
    """The whole suite against every installed adapter (the three, numpy's and the worked example), as CI runs it;
    every file it made and every process it started are gone after. Budget: 10 minutes on 2 cores."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    tag = ("MODELPORT_CONFORMANCE_RUN", tmp_path.name)
    started = time.monotonic()
    done = run_suite(toys=False, env={"TMPDIR": str(scratch), tag[0]: tag[1]})
    elapsed = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    expected = ["torch", "tf", "flax", "numpy"] + (["tinytensor"] if "tinytensor" in adapters.available() else [])
    for name in expected:  # the report header names each adapter and its version
        assert f"modelport adapter {name}: " in out, out[:3000]
    assert "modelport adapter tinytensor: modelport-tinytensor 0.1.0" in out or "tinytensor" not in expected
    assert _leftovers(scratch) == [], "the run left files in its temporary folder"
    assert _processes_with("=".join(tag)) == [], "the run left processes running"
    print(f"\nconformance suite, every adapter ({', '.join(expected)}): {elapsed:.0f} s; " + out.strip().splitlines()[-1])


def test_the_hygiene_check_sees_leftovers(tmp_path):
    """The leftover checks have teeth: a run that leaves a folder behind is an error naming it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = run_suite("--adapter", "toy-leaves-temp", "-k", "test_checkpoints", env={"TMPDIR": str(scratch)})
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "toy-leaves-temp does not clean up after itself" in out and "toy-staging-" in out, out[-3000:]
    assert _leftovers(scratch) == [], "even a failing run removes its temporary folder"
