"""The bad-input checklist is complete for the required groups, and docs/trust-checklist.md is current."""

from __future__ import annotations

import trust_checklist


def test_every_required_row_has_a_test_and_every_marker_names_a_row():
    assert trust_checklist.problems(trust_checklist.collect()) == []


def test_the_checklist_page_is_current():
    page = trust_checklist.PAGE.read_text(encoding="utf-8")
    assert page == trust_checklist.render(trust_checklist.collect()), "run: python tests/trust_checklist.py --write"


def test_the_marker_scanner_sees_decorated_tests(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "import pytest\n@pytest.mark.trust('A1', 'Z9')\ndef test_one():\n    pass\n@pytest.mark.slow\ndef test_two():\n    pass\n"
    )
    found = trust_checklist.collect(tmp_path)
    assert found == {"A1": ["tests/test_x.py::test_one"], "Z9": ["tests/test_x.py::test_one"]}
    assert "unknown row: Z9 (marked on tests/test_x.py::test_one)" in trust_checklist.problems(found)
