"""Kill sharded saves at random moments and count how the folders come back.

    python tests/crash_campaign.py [--kills 200] [--formats safetensors h5] [--seed 0]

Each trial starts from a folder holding an "old" sharded checkpoint (plus a
config.json that is not the checkpoint's), starts a child process that saves a
"new" checkpoint over it with a different shard count, and SIGKILLs the child
after a random delay drawn over the length of a whole save (measured first), so
kills land in every phase (a kill that comes after the save finished does not count:
trials go on until ``--kills`` kills have landed during a save): writing temporary shards, the journal, the renames,
the deletions. Then the folder is opened with :class:`modelport.Checkpoint`
(which finishes a save that had passed its commit point) and classified:

* ``old`` / ``new``: every tensor equals the old / the new checkpoint, bit for bit;
* ``mixed``: it loads, but is neither;
* ``unloadable``: opening or reading raised.

Finally one more save runs in the folder, and any leftover temporary file
(a name starting with ``.``) is counted. Exit status 1 unless every trial
came back old or new with no leftovers. The test suite runs a few trials of
this; the full campaign's figures are in docs/development.md.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

_CHILD = """
import sys, numpy as np
from modelport.saving import save_checkpoint
folder, fmt, seed, shard = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(seed)
tensors = [(f"h.{i}.w" if fmt != "h5" else f"h_._{i}/w:0", rng.standard_normal(TENSOR_VALUES).astype(np.float32))
           for i in range(TENSORS)]
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
save_checkpoint(folder, tensors, format=fmt, max_shard_size=shard, framework="tf" if fmt == "h5" else "pt")
"""

TENSORS = 12
TENSOR_VALUES = 256 * 1024  # 1 MiB of float32 each: 12 MiB per checkpoint
OLD_SHARD, NEW_SHARD = "4MiB", "3MiB"  # 3 shards, then 4 (the last save may be killed while renaming either)


def _expected(fmt: str, seed: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    return {
        (f"h.{i}.w" if fmt != "h5" else f"h_._{i}/w:0"): rng.standard_normal(TENSOR_VALUES).astype(np.float32).tobytes()
        for i in range(TENSORS)
    }


def _child_script() -> str:
    return _CHILD.replace("TENSOR_VALUES", str(TENSOR_VALUES)).replace("TENSORS", str(TENSORS))


def _start(folder: Path, fmt: str, seed: int, shard: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _child_script(), str(folder), fmt, str(seed), shard],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def _save(folder: Path, fmt: str, seed: int, shard: str) -> float:
    """A whole save in a child; returns its duration after the imports."""
    child = _start(folder, fmt, seed, shard)
    start = time.perf_counter()
    child.communicate("go\n")
    if child.returncode != 0:
        raise RuntimeError(f"the saving child failed with status {child.returncode}")
    return time.perf_counter() - start


def _classify(folder: Path, old: dict[str, bytes], new: dict[str, bytes]) -> str:
    from modelport.checkpoint import Checkpoint

    try:
        ckpt = Checkpoint.open(folder)
        state = {name: ckpt[name].tobytes() for name in ckpt}
    except Exception:  # noqa: BLE001 - any failure to load is the outcome being counted
        return "unloadable"
    if state == old:
        return "old"
    if state == new:
        return "new"
    return "mixed"


def run(kills: int, formats: list[str], seed: int, root: Path) -> dict[str, Counter[str]]:
    rng = random.Random(seed)
    results: dict[str, Counter[str]] = {}
    for fmt in formats:
        old, new = _expected(fmt, 1), _expected(fmt, 2)
        probe = root / f"probe-{fmt}"
        _save(probe, fmt, 1, OLD_SHARD)
        duration = max(_save(probe, fmt, 2, NEW_SHARD) for _ in range(3))
        counts: Counter[str] = Counter()
        trial = 0
        # Keep going until `kills` kills have landed during a save (a kill drawn after the save
        # finished is counted apart and does not count towards the figure).
        while counts["killed"] < kills and trial < 3 * kills:
            folder = root / f"{fmt}-{trial}"
            trial += 1
            _save(folder, fmt, 1, OLD_SHARD)
            (folder / "config.json").write_text("{}")
            child = _start(folder, fmt, 2, NEW_SHARD)
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            time.sleep(rng.uniform(0.0, duration))
            child.send_signal(signal.SIGKILL)
            child.wait()
            outcome = _classify(folder, old, new)
            counts[outcome] += 1
            counts["killed" if child.returncode == -signal.SIGKILL else "finished before the kill"] += 1
            if child.returncode == -signal.SIGKILL:
                counts[f"killed, came back {outcome}"] += 1
            if (folder / "config.json").read_text() != "{}":
                counts["config touched"] += 1
            _save(folder, fmt, 3, OLD_SHARD)
            if any(p.name.startswith(".") for p in folder.iterdir()):
                counts["leftovers after the next save"] += 1
            if _classify(folder, _expected(fmt, 3), _expected(fmt, 3)) != "old":
                counts["next save unreadable"] += 1
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
        results[fmt] = counts
    return results


def failures(counts: Counter[str]) -> int:
    bad = ("mixed", "unloadable", "config touched", "leftovers after the next save", "next save unreadable")
    return sum(counts[k] for k in bad)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="kills that land during a save, per format")
    parser.add_argument("--formats", nargs="+", default=["safetensors", "h5"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelport-crash-") as tmp:
        start = time.perf_counter()
        results = run(args.kills, args.formats, args.seed, Path(tmp))
    status = 0
    for fmt, counts in results.items():
        print(f"{fmt}: {counts['killed']} kills during a save -> old {counts['killed, came back old']}, "
              f"new {counts['killed, came back new']}, mixed {counts['killed, came back mixed']}, "
              f"unloadable {counts['killed, came back unloadable']}; "
              f"(and {counts['finished before the kill']} saves that finished before their kill: all folders "
              f"old {counts['old']}, new {counts['new']}, mixed {counts['mixed']}, unloadable {counts['unloadable']}); "
              f"temporary files left after the next save: {counts['leftovers after the next save']}; "
              f"config touched {counts['config touched']}")
        status |= counts["killed"] < args.kills
        status |= failures(counts) > 0
    print(f"{time.perf_counter() - start:.0f} s")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
