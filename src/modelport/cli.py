"""The ``modelport`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import __version__, adapters
from .auto import AutoConfig
from .checkpoint import Checkpoint
from .embedded import embedded_checkpoint
from .errors import ModelportError

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
    ckpt = Checkpoint.open(folder)
    dtypes = Counter(ckpt.info(n).dtype for n in ckpt)
    print(f"weights     written by {ckpt.framework} as {ckpt.format}; {len(ckpt)} tensors; "
          f"{ckpt.num_parameters:,} floating-point parameters; {ckpt.num_values:,} values; dtypes {dict(dtypes)}")
    print(f"adapters    installed: {', '.join(adapters.available())}")
    _demo_rewrite(ckpt)
    print(f"done in {time.perf_counter() - started:.2f} s")
    return 0


def _demo_rewrite(ckpt: Checkpoint) -> None:
    """Rewrite the checkpoint in every format the core writes, sharded, and prove every tensor comes back bit-exact."""
    import resource
    import tempfile

    from .saving import save_checkpoint

    total = ckpt.total_bytes
    print("rewrite     (one tensor in memory at a time; every tensor read back and compared bit for bit)")
    with tempfile.TemporaryDirectory(prefix="modelport-demo-") as tmp:
        for fmt in ("safetensors", "h5", "msgpack"):
            target = Path(tmp) / fmt
            start = time.perf_counter()
            result = save_checkpoint(target, [(n, ckpt.lazy(n)) for n in ckpt], format=fmt, framework=ckpt.framework,
                                     max_shard_size="32MB")
            written = time.perf_counter() - start
            back = Checkpoint.open(target)
            mismatched = [n for n in ckpt if back[n].tobytes() != ckpt[n].tobytes() or back.info(n).dtype != ckpt.info(n).dtype]
            if mismatched or sorted(back) != sorted(ckpt):
                raise ModelportError("a rewritten tensor differs from the original", where=str(target), received=mismatched[:5])
            print(f"  {fmt:<12} {len(result.files)} shards + index, {_human_bytes(total)} in {written:.2f} s "
                  f"({total / written / 1e6:,.0f} MB/s); {len(back)} of {len(ckpt)} tensors identical")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"memory      peak RSS {_human_bytes(peak)} for a {_human_bytes(total)} checkpoint")


def inspect_report(path: str | Path, *, with_tensors: bool = False) -> dict:
    """The ``modelport inspect --json`` document for a checkpoint (see docs/cli.md)."""
    ckpt = Checkpoint.open(path)
    files = [{"name": f.name, "bytes": f.stat().st_size} for f in ckpt.files]
    if ckpt.index is not None and ckpt.index.path:
        index = Path(ckpt.index.path)
        files.append({"name": index.name, "bytes": index.stat().st_size})
    report = {
        "path": str(ckpt.path),
        "framework": ckpt.framework,
        "format": ckpt.format,
        "sharded": ckpt.index is not None,
        "files": files,
        "tensor_count": len(ckpt),
        "parameter_count": ckpt.num_parameters,
        "value_count": ckpt.num_values,
        "total_bytes": ckpt.total_bytes,
        "dtypes": dict(sorted(Counter(ckpt.info(n).dtype for n in ckpt).items())),
        "metadata": {k: str(v) for k, v in sorted(ckpt.metadata.items())},
    }
    if with_tensors:
        report["tensors"] = [
            {"name": n, "dtype": ckpt.info(n).dtype, "shape": list(ckpt.info(n).shape), "file": Path(ckpt.info(n).file).name}
            for n in ckpt
        ]
    return report


_WRITERS = {"pt": "PyTorch", "tf": "TensorFlow", "flax": "Flax"}


def _inspect(args: argparse.Namespace) -> int:
    report = inspect_report(args.path, with_tensors=args.tensors)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['path']}")
    print(f"  written by   {_WRITERS[report['framework']]} ({report['framework']})")
    print(f"  format       {report['format']}" + (" (sharded)" if report["sharded"] else ""))
    print(f"  tensors      {report['tensor_count']:,}")
    print(f"  parameters   {report['parameter_count']:,} floating-point ({report['value_count']:,} values in all)")
    print(f"  size         {_human_bytes(report['total_bytes'])} of tensor data")
    print("  dtypes       " + ", ".join(f"{k} x{v}" for k, v in report["dtypes"].items()))
    print("  files")
    for f in report["files"]:
        print(f"    {_human_bytes(f['bytes']):>10}  {f['name']}")
    if args.tensors:
        width = max(len(t["name"]) for t in report["tensors"])
        print("  tensors")
        for t in report["tensors"]:
            shape = "x".join(map(str, t["shape"])) or "scalar"
            print(f"    {t['name']:<{width}}  {t['dtype']:<9} {shape:<16} {t['file']}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from .hub import download_checkpoint

    resolved = download_checkpoint(args.repo_id, framework=args.framework, revision=args.revision, local_dir=args.local_dir)
    files = ([resolved.config_file] if resolved.config_file else []) + ([resolved.index_file] if resolved.index_file else []) + resolved.weights
    for path in files:
        print(path)
    print(f"{args.repo_id}@{resolved.commit or args.revision or 'main'}: {len(files)} file(s) for {args.framework} ({resolved.format})")
    return 0


def _upload(args: argparse.Namespace) -> int:
    from .hub import upload_folder

    info = upload_folder(args.folder, args.repo_id, commit_message=args.message, private=args.private or None,
                         create_pr=args.create_pr, revision=args.revision)
    print(f"{args.repo_id}: {getattr(info, 'pr_url', None) or getattr(info, 'commit_url', info)}")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelport", description="One pretrained model, every framework.")
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is being done")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the main job on the embedded all-MiniLM-L6-v2 checkpoint")
    demo.add_argument("path", nargs="?", help="a checkpoint folder instead of the embedded one")
    demo.set_defaults(run=_demo)
    inspect = commands.add_parser("inspect", help="describe a checkpoint folder or weights file from its headers")
    inspect.add_argument("path", help="a checkpoint folder or a weights file")
    inspect.add_argument("--json", action="store_true", help="print the stable JSON report (docs/cli.md)")
    inspect.add_argument("--tensors", action="store_true", help="list every tensor's name, dtype, shape and file")
    inspect.set_defaults(run=_inspect)
    download = commands.add_parser("download", help="fetch the config and the weights one framework needs from the Hub")
    download.add_argument("repo_id")
    download.add_argument("--revision", default=None, help="branch, tag, commit or refs/pr/N")
    download.add_argument("--framework", choices=("pt", "tf", "flax"), default="pt")
    download.add_argument("--local-dir", default=None, help="copy the files into this folder instead of only the cache")
    download.set_defaults(run=_download)
    upload = commands.add_parser("upload", help="push a saved folder to a Hub repo in one commit")
    upload.add_argument("folder")
    upload.add_argument("repo_id")
    upload.add_argument("--message", default="Upload model", help="the commit message")
    upload.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing to the branch")
    upload.add_argument("--private", action="store_true", help="create the repo as private")
    upload.add_argument("--revision", default=None, help="the branch to commit to (created if missing)")
    upload.set_defaults(run=_upload)
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
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
