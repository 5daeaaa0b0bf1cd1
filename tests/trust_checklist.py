"""The bad-input checklist: every catalogued bad input or fault, and the tests that cover it.

Tests name the catalogue rows they cover with a marker::

    @pytest.mark.trust("A6", "A7")
    def test_overlapping_tensors(...): ...

This module finds those markers by reading the test files' syntax trees (no
import, no collection: it is fast and cannot be fooled by a skipped import),
and renders ``docs/trust-checklist.md``. ``tests/test_trust_checklist.py``
fails when a required row has no test, when a marker names an unknown row, or
when the checked-in page is stale. Regenerate it with::

    python tests/trust_checklist.py --write

The row titles are short summaries of the catalogue in the project's shared
design notes (BAD-INPUTS.md); groups A to F, H and K are required, G, I and J are
listed where tests exist.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "trust-checklist.md"
TEST_DIRS = ["tests", "backends/torch/tests", "backends/tf/tests", "backends/flax/tests", "conformance/tests"]
REQUIRED_GROUPS = "ABCDEFHK"

GROUPS = {
    "A": "safetensors files",
    "B": "PyTorch .bin (zip + pickle)",
    "C": "Keras tf_model.h5",
    "D": "Flax msgpack",
    "E": "sharded index JSON",
    "F": "config.json",
    "G": "Hub responses and network faults",
    "H": "disk faults",
    "I": "concurrency",
    "J": "cross-framework conversion",
    "K": "GGUF files (llama.cpp)",
}

ROWS = {
    "A1": "shorter than 8 bytes, or empty",
    "A2": "header length beyond the file, the cap, or near 2**64",
    "A3": "header not UTF-8, not JSON, or not an object",
    "A4": "unknown, lower-case or unsupported dtype code",
    "A5": "negative, float, NaN or over-u64 offsets and shapes",
    "A6": "overlapping tensor data",
    "A7": "gap between tensors, first not at 0, end before begin",
    "A8": "byte length differs from numel x itemsize",
    "A9": "shape product overflows",
    "A10": "trailing bytes after the last tensor (polyglot)",
    "A11": "data section truncated",
    "A12": "duplicate tensor name in the header",
    "A13": "unknown entry fields, non-string or duplicate __metadata__",
    "A14": "header Python's json accepts but a strict parser rejects",
    "A15": "a header with about a million tensors",
    "A16": "zero-size dimension next to a huge one",
    "A17": "bool bytes other than 0/1, non-finite floats",
    "A18": "tensor names that look like paths",
    "A19": "dtype flipped in the header (same size)",
    "A20": "file truncated by another process while open",
    "A21": "metadata format missing or naming another framework",
    "A22": "big-endian or non-C-order source arrays",
    "B1": "pickle global outside the allow-list (os.system, eval)",
    "B2": "obfuscated globals: STACK_GLOBAL from memo, INST/OBJ, framing",
    "B3": "allowed rebuild call with arguments past the storage",
    "B4": "storage size differs from its data member",
    "B5": "malformed persistent id, missing member, unknown storage type",
    "B6": "sparse, quantized or other non-strided tensors",
    "B7": "SETITEM/APPEND/BUILD on the wrong kind of object",
    "B8": "memo index near 2**32 (allocation bomb)",
    "B9": "length fields longer than the data left",
    "B10": "truncated pickle, no STOP, stack underflow, dangling memo",
    "B11": "deeply nested MARKs or lists",
    "B12": "compressed zip members (zip bomb)",
    "B13": "overlapping zip entries",
    "B14": "duplicate members, two roots, no data.pkl or version",
    "B15": "legacy non-zip pickle, polyglots",
    "B16": "big-endian byte order record",
    "B17": "many views of one storage",
    "B18": "extension that lies about the content",
    "C1": "dataset with external storage",
    "C2": "external or soft link in place of a dataset",
    "C3": "virtual dataset",
    "C4": "declared size far beyond the stored size (shape bomb)",
    "C5": "bytes that crash or blow up libhdf5",
    "C6": "model_config with Lambda layers or code",
    "C7": "missing layer_names",
    "C8": "weight_names outside the layer group",
    "C9": "non-UTF-8 names, malformed split attributes",
    "C10": "string, compound, big-endian or unexpected dtypes",
    "C11": "truncated or not HDF5 at all",
    "C12": "file locked for writing by another process",
    "D1": "container or bin headers claiming 2**32 items",
    "D2": "nesting 100,000 deep",
    "D3": "trailing bytes, truncated input",
    "D4": "duplicate map keys",
    "D5": "non-string keys, invalid UTF-8",
    "D6": "unknown ext codes",
    "D7": "array dtype strings outside the allow-list",
    "D8": "negative shapes, shape and buffer disagree",
    "D9": "chunked arrays with missing, unordered or mismatched chunks",
    "D10": "millions of tiny objects in a small file",
    "E1": "shard names with .., absolute, drive or UNC paths",
    "E2": "shard that is a symlink out, a FIFO or a device",
    "E3": "a .bin shard in a safetensors index",
    "E4": "shard listed but missing",
    "E5": "tensor in the wrong shard, in no index entry, or in two shards",
    "E6": "weight_map not an object, values not strings, metadata missing",
    "E7": "total_size disagrees with the tensors",
    "E8": "index over the size cap, deeply nested",
    "E9": "stale index next to a newer single file",
    "E10": "names differing by case, NUL bytes, over 255 bytes",
    "E11": "duplicate keys in the index",
    "F1": "keys that select code (auto_map, private keys)",
    "F2": "string values used as attribute names",
    "F3": "sizes that would allocate without bound",
    "F4": "NaN, Infinity, numbers that overflow to inf",
    "F5": "duplicate keys",
    "F6": "deep nesting, 5000-digit integers",
    "F7": "lone surrogates",
    "F8": "BOM, invalid UTF-8, top level not an object, wrong types",
    "F9": "symlink to a device or FIFO, multi-GB file",
    "G1": "404 repo or file, gated, missing revision",
    "G2": "429 with Retry-After, 5xx bursts",
    "G3": "connection reset mid-body",
    "G5": "body shorter or longer than announced",
    "G6": "right size, wrong bytes",
    "G7": "missing ETag or commit headers",
    "G10": "stalled body, unreachable endpoint, offline mode",
    "G12": "poisoned cache (truncated blob, leftovers)",
    "H1": "SIGKILL at a random point of a sharded save",
    "H2": "disk full or file too large mid-save",
    "H3": "power loss: fsync order of files, folder and commit",
    "H4": "temporary files on another filesystem",
    "H5": "read-only or permission-denied folders",
    "H6": "stale files of an older save",
    "H7": "file truncated while being read",
    "H8": "leftover temporary files of a crashed save",
    "H9": "file replaced between validation and load",
    "H10": "names too long or with odd characters",
    "I1": "several processes downloading into one cache",
    "I4": "a reader during repeated saves",
    "I5": "two writers to one folder",
    "I6": "saving over a file the process still reads",
    "J1": "dtype the target cannot hold",
    "J3": "tied weights",
    "J5": "layout transposes applied once, round trips bit-exact",
    "K1": "wrong magic, unknown version, truncated header",
    "K2": "counts and lengths near 2**64, past the end of the file",
    "K3": "tensor data out of range, misaligned or overlapping",
    "K4": "unknown or unsupported quantization type, rows not whole blocks",
    "K5": "shape overflowing or disagreeing with the stored bytes",
    "K6": "metadata of the wrong type, missing architecture keys",
    "K7": "duplicate tensor names or metadata keys",
    "K8": "a damaged block scale: exactly what llama.cpp computes, nothing invented",
    "K9": "tokenizer metadata: duplicate tokens, merges outside the vocabulary, ids out of range, unknown pre-tokenizer",
}


def _trust_rows(decorator: ast.expr) -> list[str] | None:
    """The row ids of a ``pytest.mark.trust("A1", ...)`` decorator, or None for any other decorator."""
    if not isinstance(decorator, ast.Call):
        return None
    func = decorator.func
    if not (isinstance(func, ast.Attribute) and func.attr == "trust"):
        return None
    return [arg.value for arg in decorator.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]


def collect(root: Path = ROOT) -> dict[str, list[str]]:
    """Row id -> test ids (``path::name``) from every marked test function."""
    found: dict[str, list[str]] = {}
    for folder in TEST_DIRS:
        for path in sorted((root / folder).rglob("test_*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith("test"):
                    continue
                for decorator in node.decorator_list:
                    rows = _trust_rows(decorator)
                    for row in rows or []:
                        found.setdefault(row, []).append(f"{path.relative_to(root).as_posix()}::{node.name}")
    return found


def problems(found: dict[str, list[str]]) -> list[str]:
    unknown = [f"{row} (marked on {', '.join(tests)})" for row, tests in found.items() if row not in ROWS]
    uncovered = [row for row in ROWS if row[0] in REQUIRED_GROUPS and row not in found]
    return [f"unknown row: {u}" for u in unknown] + [f"required row without a test: {r} ({ROWS[r]})" for r in uncovered]


def render(found: dict[str, list[str]]) -> str:
    required = [r for r in ROWS if r[0] in REQUIRED_GROUPS]
    covered = sum(1 for r in required if r in found)
    lines = [
        "# Bad-input checklist",
        "",
        "Every catalogued bad input or fault (groups A to J of the project's bad-input",
        "catalogue) and the tests that cover it. Generated from the tests' `trust` markers",
        "by `python tests/trust_checklist.py --write`; `tests/test_trust_checklist.py` fails",
        "when a row of groups A to F or H has no test, or when this page is stale.",
        "",
        f"Required rows (groups A-F, H) covered: {covered} of {len(required)}.",
        "",
    ]
    for group, title in GROUPS.items():
        rows = [r for r in ROWS if r.startswith(group) and r[1:].isdigit()]
        lines += [f"## {group}. {title}", "", "| row | bad input or fault | tests |", "|---|---|---|"]
        for row in rows:
            tests = "<br>".join(f"`{t}`" for t in sorted(set(found.get(row, [])))) or "-"
            lines.append(f"| {row} | {ROWS[row]} | {tests} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Render or check docs/trust-checklist.md.")
    parser.add_argument("--write", action="store_true", help="rewrite the page")
    args = parser.parse_args()
    found = collect()
    for problem in problems(found):
        print(problem, file=sys.stderr)
    page = render(found)
    if args.write:
        PAGE.write_text(page, encoding="utf-8")
        print(f"wrote {PAGE.relative_to(ROOT)}")
    else:
        print(page)
    return 1 if problems(found) else 0


if __name__ == "__main__":
    sys.exit(main())
