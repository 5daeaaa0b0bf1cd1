"""The ``modelport`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import __version__, frameworks
from .checkpoint import Checkpoint
from .demo import human_bytes
from .errors import ModelportError

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    """The main job on the embedded real checkpoint (see modelport.demo)."""
    from .demo import run_demo

    return run_demo(args.path, core_only=args.core, out=args.out)


def _convert(args: argparse.Namespace) -> int:
    from .conversion.converter import convert

    report = convert(args.source, args.destination, to=args.to, format=args.format, max_shard_size=args.max_shard_size,
                     dtype=args.dtype, verify=args.verify, tolerance=args.tolerance, push=args.push, revision=args.revision,
                     progress=not args.no_progress)
    print(report.summary())
    if not report.ok:
        print("modelport: error: the target needs weights the source does not provide (see above)", file=sys.stderr)
        return 1
    return 0


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
    print(f"  written by   {_WRITERS.get(report['framework'], report['framework'])} ({report['framework']})")
    print(f"  format       {report['format']}" + (" (sharded)" if report["sharded"] else ""))
    print(f"  tensors      {report['tensor_count']:,}")
    print(f"  parameters   {report['parameter_count']:,} floating-point ({report['value_count']:,} values in all)")
    print(f"  size         {human_bytes(report['total_bytes'])} of tensor data")
    print("  dtypes       " + ", ".join(f"{k} x{v}" for k, v in report["dtypes"].items()))
    print("  files")
    for f in report["files"]:
        print(f"    {human_bytes(f['bytes']):>10}  {f['name']}")
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
    files = (
        ([resolved.config_file] if resolved.config_file else []) + ([resolved.index_file] if resolved.index_file else []) + resolved.weights
    )
    for path in files:
        print(path)
    print(f"{args.repo_id}@{resolved.commit or args.revision or 'main'}: {len(files)} file(s) for {args.framework} ({resolved.format})")
    return 0


def _upload(args: argparse.Namespace) -> int:
    from .hub import upload_folder

    info = upload_folder(
        args.folder,
        args.repo_id,
        commit_message=args.message,
        private=args.private or None,
        create_pr=args.create_pr,
        revision=args.revision,
    )
    print(f"{args.repo_id}: {getattr(info, 'pr_url', None) or getattr(info, 'commit_url', info)}")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelport", description="One pretrained model, every framework.")
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is being done")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the main job on the embedded all-MiniLM-L6-v2 checkpoint")
    demo.add_argument("path", nargs="?", help="a checkpoint folder instead of the embedded one")
    demo.add_argument("--core", action="store_true", help="only the core's part (no framework): rewrite and compare")
    demo.add_argument("--out", default=None, help="keep the converted checkpoints in this folder")
    demo.set_defaults(run=_demo)
    convert = commands.add_parser("convert", help="convert a checkpoint to another framework, streaming, optionally verified")
    convert.add_argument("source", help="a checkpoint folder or a Hub repo id")
    convert.add_argument("destination", help="the output folder")
    convert.add_argument("--to", required=True, choices=frameworks.tags(), help="the target framework")
    convert.add_argument(
        "--format",
        default="safetensors",
        choices=("safetensors", "native"),
        help="safetensors (default) or the framework's own: .bin, tf_model.h5, flax_model.msgpack",
    )
    convert.add_argument("--max-shard-size", default="5GB", help="shard limit, e.g. 5GB, 500MB (default 5GB)")
    convert.add_argument("--dtype", default=None, help="cast floating-point weights, e.g. bfloat16")
    convert.add_argument("--verify", action="store_true", help="run both models on a probe input and compare every output")
    convert.add_argument("--tolerance", type=float, default=None, help="max |diff| --verify accepts (default 1e-4)")
    convert.add_argument("--revision", default=None, help="the source's branch, tag or commit (Hub sources)")
    convert.add_argument("--push", default=None, metavar="REPO_ID", help="upload the result to this Hub repo")
    convert.add_argument("--no-progress", action="store_true", help="no progress bar")
    convert.set_defaults(run=_convert)
    inspect = commands.add_parser("inspect", help="describe a checkpoint folder or weights file from its headers")
    inspect.add_argument("path", help="a checkpoint folder or a weights file")
    inspect.add_argument("--json", action="store_true", help="print the stable JSON report (docs/cli.md)")
    inspect.add_argument("--tensors", action="store_true", help="list every tensor's name, dtype, shape and file")
    inspect.set_defaults(run=_inspect)
    download = commands.add_parser("download", help="fetch the config and the weights one framework needs from the Hub")
    download.add_argument("repo_id")
    download.add_argument("--revision", default=None, help="branch, tag, commit or refs/pr/N")
    download.add_argument("--framework", choices=frameworks.tags(), default="pt")
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
