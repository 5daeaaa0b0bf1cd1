"""Write docs/conversion.md's per-architecture rescue table from ``nox -s rescue``'s results (build/rescue.jsonl).

    python tests/rescue/render_results.py build/rescue.jsonl

The table goes between the ``rescue-table`` markers; everything else in the page is left as it is.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "conversion.md"
PROBLEMS = Path(__file__).parents[1] / "golden" / "data" / "rescue-problems.json"  # the evidence for skipped classes
START, END = "<!-- rescue-table:start -->", "<!-- rescue-table:end -->"


def render(lines: list[dict]) -> str:
    evidence = json.loads(PROBLEMS.read_text()) if PROBLEMS.is_file() else {}
    lines = [{**line, "detail": evidence.get(line["class"], line["detail"])} if line["status"] == "skipped" else line
             for line in lines]
    by_type: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        by_type[line["model_type"]].append(line)
    rows = ["| model type | classes converted and matching (TF / Flax) | saved forms checked | worst max abs diff | not done, and why |",
            "|---|---|---|---|---|"]
    for model_type, results in sorted(by_type.items()):
        singles = [r for r in results if r["variant"] == "single"]
        counts = []
        for prefix in ("TF", "Flax"):
            mine = [r for r in singles if r["class"].startswith(prefix)]
            counts.append(f"{sum(r['status'] == 'ok' for r in mine)}/{len(mine)}" if mine else "-")
        forms = sorted({r["variant"] for r in results if r["status"] == "ok"} - {"single"})
        worst = max((float(r["detail"]) for r in results if r["status"] == "ok"), default=None)
        failing: dict[str, list[str]] = defaultdict(list)
        for r in results:
            if r["status"] != "ok":
                failing[r["detail"]].append(r["class"])
        notes = sorted(f"{', '.join(sorted(set(classes)))}: {why}" for why, classes in failing.items())
        rows.append(f"| {model_type} | {' / '.join(counts)} | {', '.join(['single file', *forms])} | "
                    f"{'-' if worst is None else f'{worst:.0e}'} | {'; '.join(notes) or '-'} |")
    ok = sum(r["status"] == "ok" for r in lines if r["variant"] == "single")
    total = sum(r["variant"] == "single" for r in lines)
    return f"{ok} of {total} classes in {len(by_type)} model types convert and match.\n\n" + "\n".join(rows)


def main(path: str) -> None:
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{render(lines)}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
