"""A conformance run cleans up after itself, and so must the adapter under test.

Every run gets one folder of its own. ``tempfile`` and ``TMPDIR`` point into it
(so whatever an adapter puts in the temporary folder lands there), pytest's
``tmp_path`` lives in it, and the local Hub keeps its storage and ``HF_HOME``
in it. After each test, anything new at the top of the temporary folder and any
child process still running is the test's fault (the adapter's, as the suite
cleans up its own); when the run ends the folder is deleted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunFolder", "child_processes"]


@dataclass
class RunFolder:
    """The run's own folder: ``tmp`` (the process's temporary folder while the run lasts) and ``pytest`` (tmp_path)."""

    root: Path
    _saved: tuple[str | None, str | None] = field(default=(None, None), repr=False)

    @classmethod
    def create(cls) -> RunFolder:
        root = Path(tempfile.mkdtemp(prefix="modelport-conformance-"))
        (root / "tmp").mkdir()
        folder = cls(root, (tempfile.tempdir, os.environ.get("TMPDIR")))
        tempfile.tempdir = str(folder.tmp)
        os.environ["TMPDIR"] = str(folder.tmp)
        return folder

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def basetemp(self) -> Path:
        return self.root / "pytest"

    def entries(self) -> set[str]:
        return set(os.listdir(self.tmp)) if self.tmp.is_dir() else set()

    def remove(self, names: set[str]) -> None:
        for name in names:
            path = self.tmp / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)

    def delete(self) -> None:
        """Put the temporary folder back as it was and delete the run's folder."""
        tempdir, env = self._saved
        tempfile.tempdir = tempdir
        if env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = env
        shutil.rmtree(self.root, ignore_errors=True)


def child_processes() -> dict[int, str]:
    """This process's live children, pid -> command line (Linux ``/proc``; empty where it is missing)."""
    children: dict[int, str] = {}
    for task in Path("/proc/self/task").glob("*"):
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in map(int, pids):
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if state != "Z":  # a zombie has ended; it only waits to be reaped
                children[pid] = command
    return children
