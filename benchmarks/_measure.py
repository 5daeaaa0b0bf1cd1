"""What the benchmark scripts share: peak-RSS marks and best-of-N child runs.

Each measurement runs in a fresh child process (the script re-run with
``--child``) after ``os.sync()``, so no run pays for another's imports,
caches or dirty pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def status_mb(field: str) -> float:
    """A ``/proc/self/status`` field (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> float:
    """Reset the kernel's peak-RSS mark (``clear_refs`` 5) and return the current RSS in MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")


def child_run(script: str, *args: str) -> dict:
    """Run ``script --child args...`` once, after ``os.sync()``; return the JSON it prints last."""
    os.sync()
    out = subprocess.run([sys.executable, script, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(script: str, repeat: int, *args: str) -> dict:
    """The fastest of ``repeat`` child runs, with the largest peak-RSS growth seen."""
    results = [child_run(script, *args) for _ in range(repeat)]
    best = min(results, key=lambda r: r["seconds"])
    return {**best, "rss_growth_mb": max(r["rss_growth_mb"] for r in results)}
