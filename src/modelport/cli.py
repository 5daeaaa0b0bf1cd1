"""The ``modelport`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import __version__, adapters
from .auto import AutoConfig
from .embedded import embedded_checkpoint
from .errors import ModelportError
from .formats.safetensors import read_header

__all__ = ["main"]


def _human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _demo(args: argparse.Namespace) -> int:
    """The main job on the embedded real checkpoint."""
    started = time.perf_counter()
    folder = Path(args.path) if args.path else embedded_checkpoint()
    config = AutoConfig.from_pretrained(folder)
    print(f"checkpoint  {folder}")
    print(f"config      {type(config).__name__}: model_type={config.model_type}, "
          f"hidden_size={config.hidden_size}, layers={config.num_hidden_layers}, "
          f"heads={config.num_attention_heads}, vocab={config.vocab_size}")
    print("files:")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        print(f"  {_human_bytes(path.stat().st_size):>10}  {path.relative_to(folder)}")
    weight_files = sorted(folder.glob("*.safetensors"))
    if not weight_files:
        raise ModelportError("no safetensors weights in the folder", where=str(folder))
    tensors = {}
    writers = set()
    for weight_file in weight_files:
        header = read_header(weight_file)
        tensors.update(header.tensors)
        writers.add(header.format or "pt")
    dtypes = Counter(info.dtype for info in tensors.values())
    floating = sum(info.numel for info in tensors.values() if info.dtype.startswith(("float", "bfloat")))
    print(f"weights     written by {', '.join(sorted(writers))}; {len(tensors)} tensors; "
          f"{floating:,} floating-point parameters; "
          f"{sum(info.numel for info in tensors.values()):,} values; dtypes {dict(dtypes)}")
    print(f"adapters    installed: {', '.join(adapters.available())}")
    print(f"done in {time.perf_counter() - started:.2f} s")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelport", description="One pretrained model, every framework.")
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is being done")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the main job on the embedded all-MiniLM-L6-v2 checkpoint")
    demo.add_argument("path", nargs="?", help="a checkpoint folder instead of the embedded one")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``modelport`` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.run(args))
    except ModelportError as exc:
        print(f"modelport: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
