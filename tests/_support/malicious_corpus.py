"""Loading the malicious corpus under an audit hook.

The corpus itself is built by :func:`modelport_conformance.corpus.build` (one
folder per case; the payloads only ever touch a marker file inside ``root``).
``python tests/_support/malicious_corpus.py ROOT`` loads every case in this process after installing a ``sys.addaudithook`` hook that
records any process spawn (other than modelport's own h5 isolation child), any
socket use, any import of a module not already loaded by a benign warm-up, and
any file opened outside the case's folder; it prints one JSON line per case:
``{"case", "outcome", "message", "events"}`` where outcome is ``refused`` (a
modelport error), ``loaded`` or the name of any other exception.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from modelport_conformance.corpus import MARKER, build, payload_ran

__all__ = ["build", "main", "MARKER", "payload_ran"]

# -- loading under the audit hook ---------------------------------------------------------------


def _load(folder: Path) -> None:
    if (folder / "config.json").exists():
        from modelport.auto import AutoConfig

        AutoConfig.from_pretrained(folder)
        return
    from modelport.checkpoint import Checkpoint

    ckpt = Checkpoint.open(folder)
    for name in ckpt:
        ckpt[name]


def _warm_up(scratch: Path) -> None:
    """Load one benign file of every kind, so what these need is imported before the hook is on."""
    import encodings.cp437  # noqa: F401 - zipfile decodes member names flagged as not UTF-8 with it

    import h5py
    from safetensors.numpy import save_file

    from modelport.auto import AutoConfig
    from modelport.errors import ModelportError
    from modelport.saving import save_checkpoint

    good = [("bert/w:0", np.ones(3, np.float32))]
    for fmt in ("safetensors", "h5", "msgpack"):
        save_checkpoint(scratch / fmt, good if fmt == "h5" else [("w", np.ones(3, np.float32))], format=fmt,
                        framework={"safetensors": "pt", "h5": "tf", "msgpack": "flax"}[fmt], max_shard_size="8B")
        _load(scratch / fmt)
    (scratch / "h5f").mkdir()
    with h5py.File(scratch / "h5f" / "tf_model.h5", "w") as f:  # a foreign h5: the isolation child runs once
        f.attrs["layer_names"] = np.asarray([b"w:0"])
        f.create_dataset("w:0", data=np.ones(2, np.float32))
    _load(scratch / "h5f")
    save_file({"w": np.ones(2, np.float32)}, scratch / "x.safetensors")
    (scratch / "cfg").mkdir()
    (scratch / "cfg" / "config.json").write_text('{"model_type": "bert"}')
    _load(scratch / "cfg")
    for bad in ("{", '{"model_type": "bert", "hidden_act": "x"}'):
        (scratch / "cfg" / "config.json").write_text(bad)
        try:
            AutoConfig.from_pretrained(scratch / "cfg")
        except ModelportError as exc:
            str(exc)


def main(root: Path) -> None:
    import tempfile

    from modelport.errors import ModelportError

    with tempfile.TemporaryDirectory() as scratch:
        _warm_up(Path(scratch))
    allowed_modules = set(sys.modules)
    events: list[str] = []
    state = {"folder": None}

    def hook(event: str, args: tuple) -> None:
        folder = state["folder"]
        if folder is None:
            return
        if event == "subprocess.Popen":
            argv = list(args[1]) if args[1] else []
            if argv[1:3] != ["-m", "modelport.formats._h5_child"]:
                events.append(f"spawn {argv[:3]}")
        elif event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.startfile"):
            events.append(f"{event} {str(args)[:80]}")
        elif event.startswith("socket.") and event != "socket.__new__":
            events.append(f"{event} {str(args)[:80]}")
        elif event == "import" and args[0] not in allowed_modules and args[0] not in sys.modules:
            events.append(f"import {args[0]}")
        elif event == "open" and isinstance(args[0], str | bytes) and args[0] not in (-1,):
            path = os.path.realpath(os.fsdecode(args[0]))
            if not (path == folder or path.startswith(folder + os.sep)):
                events.append(f"open {path}")

    sys.addaudithook(hook)
    for case in sorted(p for p in root.iterdir() if p.is_dir()):
        events.clear()
        state["folder"] = os.path.realpath(case)
        try:
            _load(case)
            outcome, message = "loaded", ""
        except ModelportError as exc:
            outcome, message = "refused", str(exc)
        except Exception as exc:  # noqa: BLE001 - reported, and the test fails on it
            outcome, message = type(exc).__name__, str(exc)
        state["folder"] = None
        print(json.dumps({"case": case.name, "outcome": outcome, "message": message[:300], "events": list(events)}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
