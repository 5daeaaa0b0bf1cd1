"""No code execution, proven: every malicious file is refused, under an audit hook that sees nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _support import malicious_corpus


@pytest.mark.trust("B1", "B2", "B15", "B18", "C1", "C2", "C3", "C6", "D7", "E1", "E2", "E3", "F1", "F2")
def test_the_malicious_corpus_is_refused_with_no_audit_event(tmp_path):
    cases = malicious_corpus.build(tmp_path / "corpus")
    assert len(cases) >= 50
    done = subprocess.run([sys.executable, malicious_corpus.__file__, str(tmp_path / "corpus")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["case"] for r in rows) == cases
    not_refused = [(r["case"], r["outcome"], r["message"][:120]) for r in rows if r["outcome"] != "refused"]
    events = [(r["case"], r["events"]) for r in rows if r["events"]]
    assert not_refused == [] and events == []
    unnamed = [r["case"] for r in rows if f"/{r['case']}/" not in r["message"]]
    assert unnamed == []  # each error names the file (its path holds the case's folder)
    assert malicious_corpus.payload_ran(tmp_path / "corpus") == []
    print(f"\nmalicious corpus: {len(rows)} files, {len(rows)} refused, 0 audit events")


def test_the_audit_hook_would_see_a_payload(tmp_path):
    """The watcher has teeth: a case that really spawns a process and opens a file outside is reported."""
    root = tmp_path / "corpus"
    (root / "evil").mkdir(parents=True)
    (root / "evil" / "config.json").write_text('{"model_type": "bert"}')
    script = (
        "import sys, subprocess\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from _support import malicious_corpus as m\n"
        "real = m._load\n"
        "def load(folder):\n"
        "    real(folder)\n"
        "    subprocess.run(['true'])\n"
        "    open('/etc/hostname').close()\n"
        "m._load = load\n"
        "m.main(__import__('pathlib').Path(sys.argv[1]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(root), str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=300)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["outcome"] == "loaded"
    assert any(e.startswith("spawn") for e in row["events"]) and "open /etc/hostname" in row["events"]
