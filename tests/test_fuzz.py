"""The fuzz budget of every CI run, and the replay of every input the fuzzer ever caught escaping.

``tests/fuzz.py`` is the fuzzer (its docstring says what counts as an escape);
``MODELPORT_FUZZ_SECONDS`` sets the budget per parser here (default 12 s).
"""

from __future__ import annotations

import os

import pytest

import fuzz

BUDGET_S = float(os.environ.get("MODELPORT_FUZZ_SECONDS", "12"))
REGRESSION_FILES = sorted(fuzz.REGRESSIONS.glob("*/*.bin"))


@pytest.mark.trust("A3", "B10", "C5", "D3")
@pytest.mark.parametrize("parser", fuzz.PARSERS)
def test_fuzz_budget_finds_no_escape(parser, capsys):
    result = fuzz.run(parser, BUDGET_S, seed=int.from_bytes(parser.encode(), "little") % 10_000)
    with capsys.disabled():
        print(f"\nfuzz {parser}: {result['inputs']} inputs in {BUDGET_S:.0f} s, {result['loaded']} loaded, "
              f"{result['refused']} refused, {len(result['escapes'])} escapes")
    assert result["escapes"] == [], result["escapes"][:3]
    assert result["inputs"] >= min(10, BUDGET_S) and result["refused"] > 0  # h5 inputs are slow: about 2 a second


@pytest.mark.parametrize("path", REGRESSION_FILES, ids=[f"{p.parent.name}/{p.name}" for p in REGRESSION_FILES])
def test_inputs_that_once_escaped_are_now_refused_or_loaded(path, tmp_path):
    assert fuzz.run_input(path.parent.name, path.read_bytes(), tmp_path) in ("loaded", "refused")


def test_there_are_regression_files_and_they_are_small():
    assert REGRESSION_FILES, "the fuzzer's first findings are kept under tests/fuzz_regressions"
    assert all(p.stat().st_size < 1 << 20 for p in REGRESSION_FILES)


def test_the_mutator_is_seeded_and_changes_its_input():
    import random

    seed = fuzz.seeds("safetensors")[0]
    first = [fuzz.mutate(seed, random.Random(3), text=False) for _ in range(20)]
    again = [fuzz.mutate(seed, random.Random(3), text=False) for _ in range(20)]
    assert first == again and sum(m != seed for m in first) >= 18
